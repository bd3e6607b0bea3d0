/**
 * Step-by-step comparison of the kernel's answers with SoftDevice's, and the report of the first
 * divergence: the whole sequence up to that op, with both sides' results, so it can be replayed.
 */
import {
  type DivergenceContext,
  KNOWN_DIFFERENCES,
  type KnownDifference,
  knownDifference,
} from './known-differences.js';
import { argszOf, type Op, type OpResult, opLine, type Sequence } from './seqfile.js';
import { flagNames, INDEX_NAMES, retName } from './uapi.js';
import type { KernelName } from './vm.js';

/** One op where the two sides disagree. */
export interface Divergence {
  seq: Sequence;
  i: number;
  kernel: OpResult | undefined;
  soft: OpResult | undefined;
  known?: KnownDifference;
  /**
   * Unforgiven divergences only: the later ops of the sequence that differ too. The first divergence
   * is the finding (after it the two sides' state may have split); these say how far it reaches.
   */
  later?: number[];
}

/** The outcome of a comparison. */
export interface Comparison {
  sequences: number;
  /** Ops compared: every op of every sequence up to its first unforgiven divergence. */
  ops: number;
  /** The first unforgiven divergence of each sequence that has one (the test fails on any). */
  divergences: Divergence[];
  /** Every forgiven divergence, with the entry that forgave it. */
  forgiven: Divergence[];
  /** Forgiven ops per entry id (every entry of the list, 0 when it forgave nothing). */
  forgivenBy: Record<string, number>;
}

function sameResult(a: OpResult, b: OpResult): boolean {
  if (a.ret !== b.ret || a.op !== b.op) return false;
  if (a.op === 'info' && (a.flags !== b.flags || a.count !== b.count)) return false;
  const ka = Object.keys(a.ev).sort();
  const kb = Object.keys(b.ev).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.ev[k] === b.ev[k]);
}

/**
 * Compares per op. A forgiven op does not end its sequence: the next op is compared as usual. After
 * the first unforgiven divergence the rest of that sequence is not compared (the two sides' state may
 * have split, so what follows would only echo it), but other sequences go on, so one bug does not
 * hide another. `known` is the forgiveness list (known-differences.ts unless a test passes its own).
 */
export function compareResults(
  seqs: readonly Sequence[],
  kernel: readonly OpResult[],
  soft: ReadonlyMap<string, readonly OpResult[]>,
  kernelName: KernelName,
  known: readonly KnownDifference[] = KNOWN_DIFFERENCES,
): Comparison {
  const bySeq = new Map<string, OpResult[]>();
  for (const r of kernel) {
    const list = bySeq.get(r.seq) ?? [];
    list.push(r);
    bySeq.set(r.seq, list);
  }
  const result: Comparison = {
    sequences: 0,
    ops: 0,
    divergences: [],
    forgiven: [],
    forgivenBy: Object.fromEntries(known.map((k) => [k.id, 0])),
  };
  for (const seq of seqs) {
    result.sequences++;
    const k = bySeq.get(seq.id) ?? [];
    const s = soft.get(seq.id) ?? [];
    for (let i = 0; i < seq.ops.length; i++) {
      result.ops++;
      const kr = k[i];
      const sr = s[i];
      if (kr && sr && sameResult(kr, sr)) continue;
      const d: Divergence = { seq, i, kernel: kr, soft: sr };
      if (kr && sr?.state) {
        const ctx: DivergenceContext = {
          device: seq.device,
          op: seq.ops[i],
          kernel: kr,
          soft: sr,
          state: sr.state,
          kernelName,
        };
        d.known = knownDifference(ctx, known);
      }
      if (d.known) {
        result.forgiven.push(d);
        result.forgivenBy[d.known.id]++;
        continue;
      }
      d.later = [];
      for (let j = i + 1; j < seq.ops.length; j++) {
        if (!(k[j] && s[j] && sameResult(k[j], s[j]))) d.later.push(j);
      }
      result.divergences.push(d);
      break;
    }
  }
  return result;
}

/** A readable description of an op. */
export function describeOp(op: Op): string {
  if (op.op === 'set') {
    const idx = INDEX_NAMES[op.index] ?? `index ${op.index >>> 0}`;
    return `SET_IRQS ${flagNames(op.flags)} ${idx} start=${op.start >>> 0} count=${op.count >>> 0} argsz=${argszOf(op)}`;
  }
  if (op.op === 'info')
    return `GET_IRQ_INFO ${INDEX_NAMES[op.index] ?? op.index >>> 0} argsz=${op.argsz ?? 16}`;
  return opLine(op);
}

function showResult(r: OpResult | undefined): string {
  if (!r) return '(missing)';
  const info = r.op === 'info' ? ` flags=${r.flags} count=${r.count}` : '';
  const state = r.state ? ` [irqType ${r.state.irqType}, ${r.state.allocatedVectors} vectors]` : '';
  return `${retName(r.ret)}${info} ev=${JSON.stringify(r.ev)}${state}`;
}

/** The first divergence in full: sequence, every op up to it with both answers, and the op itself. */
export function formatDivergence(
  d: Divergence,
  kernel: readonly OpResult[],
  soft: readonly OpResult[],
): string {
  const k = kernel.filter((r) => r.seq === d.seq.id);
  const lines = [
    `first divergence: sequence ${d.seq.id} on ${d.seq.device} (${d.seq.note}), op #${d.i}`,
    `  ${describeOp(d.seq.ops[d.i])}`,
    `  kernel:     ${showResult(d.kernel)}`,
    `  SoftDevice: ${showResult(d.soft)}`,
    ...(d.later?.length ? [`  later ops that differ too: ${d.later.map((j) => `#${j}`).join(' ')}`] : []),
    '  the sequence up to there (runner line | kernel | SoftDevice):',
  ];
  for (let i = 0; i <= d.i && i < d.seq.ops.length; i++) {
    const mark = i === d.i ? '>>' : '  ';
    lines.push(
      `  ${mark} ${i}: ${opLine(d.seq.ops[i]).padEnd(36)} | ${showResult(k[i])} | ${showResult(soft[i])}`,
    );
  }
  return lines.join('\n');
}
