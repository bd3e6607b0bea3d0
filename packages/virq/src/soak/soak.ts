/**
 * The soak: dispatchers in every mode in turn (interrupt, poll, hybrid: one segment each, round and
 * round), each under a full-rate raise storm from another thread, with faults injected at random
 * moments (a handler that throws, a handler that calls process.exit, the worker terminated from
 * outside) and rebalances; the process sampled every second (RSS, heap, external, fds, threads). At
 * each segment's end the storm stops, the dispatcher drains and stops, and every raise is accounted
 * for: what the device accepted equals what the handlers saw, per vector. The verdict: memory growth
 * after warm-up within bounds, fds and threads back to where they were, zero raises lost.
 *
 * The crash storm (`crashes`) is the same engine with a different stopping rule: each segment ends
 * once its share of faults has happened, and a new fault is planted as soon as the last one is over.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  type AffinitySpec,
  Dispatcher,
  type DispatchMode,
  SoftDevice,
  VFIO_PCI_MSIX_IRQ_INDEX,
} from '../index.js';
import { type Growth, growth, type Sample, sample } from './sampler.js';
import { FAULT, FaultKind, type SoakHandlerData } from './soak-handler.js';
import type { RaiserData } from './soak-raiser.js';

/** Fault kinds the soak injects. */
export type Fault = 'throw' | 'exit' | 'terminate';

/** Soak options. */
export interface SoakOptions {
  /** Total run time (ignored when `crashes` is set: the run lasts until they happened). */
  durationMs: number;
  /** Vectors per dispatcher (default 64). */
  vectors?: number;
  /** Service workers (default 2). */
  workers?: number;
  /** Segment length: one dispatcher, one mode (default: a sixth of the run, at most 30 s, at least 5 s). */
  segmentMs?: number;
  /** Sampling period (default 1000 ms). */
  sampleMs?: number;
  /** Mean spacing of injected faults (default 1500 ms). */
  faultEveryMs?: number;
  /** Mean spacing of rebalances (default 2500 ms). */
  rebalanceEveryMs?: number;
  /**
   * Short dispatcher cycles first (1 s each, faults and rebalances 5× as often), left out of the
   * memory verdict with the time they take (default 30; at most half the run). V8 compiles, tiers up
   * and attaches feedback to code by how often it ran, not for how long: a path that runs once per
   * dispatcher (start, stop, a replacement) keeps adding code for dozens of cycles and then stops.
   */
  warmupCycles?: number;
  /** Also left out of the memory verdict: the first `warmupMs` of the run (default 0). */
  warmupMs?: number;
  /** Allowed memory growth after warm-up, percent (default 5). */
  maxGrowthPct?: number;
  /** Crash storm: inject this many faults back to back, then stop. */
  crashes?: number;
  /** Which faults to inject (default all three kinds). */
  faults?: readonly Fault[];
  /** PRNG seed (default from the clock). */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One segment: one dispatcher in one mode. */
export interface SegmentResult {
  mode: DispatchMode;
  ms: number;
  /** Raises the device accepted (the storm's own count). */
  accepted: number;
  raised: number;
  delivered: number;
  coalesced: number;
  pending: number;
  dropped: number;
  /** Raises the handlers saw (Σ ctx.count over every call). */
  seen: number;
  /** Handler calls that ran to completion. */
  calls: number;
  /**
   * Lost: deliveries no handler call completed (delivered − calls), plus — in interrupt mode, where
   * every raise reaches the handler in a trigger count — raises no call saw (raised − seen). In poll
   * and hybrid modes raises that fold into a NAPI-masked vector's pending bit are counted coalesced
   * by core and reach the handler as one call: there calls = delivered is the check. The verdict
   * wants 0.
   */
  lost: number;
  /**
   * Calls beyond deliveries: a worker killed after its handler returned but before the dispatcher
   * recorded the delivery has it redelivered (at-least-once across a crash), bounded by `redelivered`.
   */
  doubled: number;
  faults: Record<Fault, number>;
  restarts: number;
  redelivered: number;
  handlerErrors: number;
  rebalances: number;
  rebalanceErrors: string[];
  /** Errors other than the injected ones ('error' events with an unexpected code). */
  unexpected: string[];
  /** Raises per second the storm achieved. */
  raisesPerSec: number;
  /** One of the warm-up cycles. */
  warmup: boolean;
}

/** The whole run. */
export interface SoakReport {
  options: Required<Omit<SoakOptions, 'log' | 'crashes' | 'seed'>> & { crashes?: number; seed: number };
  ms: number;
  samples: Sample[];
  segments: SegmentResult[];
  growth: Growth[];
  /**
   * Growth from the first idle sample (after the first segment, warm-up cycles or not): not part of
   * the verdict, reported so what the warm-up leaves out is visible.
   */
  growthFromFirst: Growth[];
  /** When the warm-up ended (ms into the run): the memory verdict's baseline is the next idle sample. */
  warmupEndMs: number;
  /** fds and threads with no dispatcher running: after the first segment, and at the end. */
  idle: { fds: [number, number]; threads: [number, number] };
  totals: {
    accepted: number;
    lost: number;
    doubled: number;
    faults: number;
    restarts: number;
    redelivered: number;
  };
  verdict: { pass: boolean; reasons: string[] };
}

const MODES: DispatchMode[] = ['interrupt', 'poll', 'hybrid'];
/** A warm-up cycle's length, and its mean spacing of faults and rebalances. */
const WARM = { segmentMs: 1000, faultEveryMs: 300, rebalanceEveryMs: 500 } as const;

/** A full GC for the idle samples (the flag set at run time, as `node --expose-gc` would). */
const gc: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An exponentially distributed delay with this mean: faults at random moments, not on a beat. */
  delay(mean: number): number {
    return Math.max(1, -Math.log(1 - this.next()) * mean);
  }
}

function resolve(o: SoakOptions): SoakReport['options'] {
  const durationMs = o.durationMs;
  const segmentMs = o.segmentMs ?? Math.max(5000, Math.min(30_000, Math.floor(durationMs / 6)));
  return {
    durationMs,
    vectors: o.vectors ?? 64,
    workers: o.workers ?? 2,
    segmentMs,
    sampleMs: o.sampleMs ?? 1000,
    faultEveryMs: o.faultEveryMs ?? 1500,
    rebalanceEveryMs: o.rebalanceEveryMs ?? 2500,
    warmupCycles: o.warmupCycles ?? 30,
    warmupMs: o.warmupMs ?? 0,
    maxGrowthPct: o.maxGrowthPct ?? 5,
    faults: o.faults ?? ['throw', 'exit', 'terminate'],
    crashes: o.crashes,
    seed: o.seed ?? Date.now() >>> 0,
  };
}

/** Runs the soak (or the crash storm); never throws for a failed verdict. */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  const o = resolve(options);
  const rng = new Rng(o.seed);
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const samples: Sample[] = [sample(t0)];
  const sampler = setInterval(() => samples.push(sample(t0)), o.sampleMs);
  const segments: SegmentResult[] = [];
  const idles: Sample[] = [];
  let idleFirst: Sample | undefined;
  let warmupEndMs = 0;
  // between segments no dispatcher runs: fds and threads must be back to their idle level, and
  // after a full GC the memory a stopped dispatcher leaves behind is what a leak would be
  const idleSample = async () => {
    await sleep(50);
    gc?.();
    const idle = sample(t0);
    samples.push(idle);
    idles.push(idle);
    idleFirst ??= idle;
  };
  try {
    if (o.crashes === undefined) {
      const warm = { ...o, faultEveryMs: WARM.faultEveryMs, rebalanceEveryMs: WARM.rebalanceEveryMs };
      for (let c = 0; c < o.warmupCycles && performance.now() - t0 < o.durationMs / 2; c++) {
        segments.push(await segment(warm, rng, MODES[c % MODES.length], { ms: WARM.segmentMs }, log, true));
        await idleSample();
      }
      // the idle sample after the last cycle is the verdict's baseline
      warmupEndMs = idles.at(-1)?.t ?? 0;
    }
    const crashSegments = o.crashes !== undefined ? MODES.length : 0;
    for (let i = 0; ; i++) {
      const mode = MODES[i % MODES.length];
      if (o.crashes !== undefined) {
        if (i >= crashSegments) break;
        const share = Math.floor(o.crashes / crashSegments) + (i < o.crashes % crashSegments ? 1 : 0);
        segments.push(await segment(o, rng, mode, { crashes: share }, log));
      } else {
        const left = o.durationMs - (performance.now() - t0);
        if (left < Math.min(o.segmentMs / 2, 1000) || (segments.length > 0 && left < o.segmentMs / 2)) break;
        segments.push(await segment(o, rng, mode, { ms: Math.min(o.segmentMs, left) }, log));
      }
      await idleSample();
    }
  } finally {
    clearInterval(sampler);
  }
  await sleep(100);
  gc?.();
  const idleEnd = sample(t0);
  samples.push(idleEnd);
  idles.push(idleEnd);
  return verdict(
    o,
    samples,
    idles,
    segments,
    idleFirst ?? idleEnd,
    idleEnd,
    performance.now() - t0,
    warmupEndMs,
  );
}

function verdict(
  o: SoakReport['options'],
  samples: Sample[],
  idles: Sample[],
  segments: SegmentResult[],
  idleFirst: Sample,
  idleEnd: Sample,
  ms: number,
  warmupEndMs: number,
): SoakReport {
  const sum = (k: keyof SegmentResult) => segments.reduce((a, s) => a + (s[k] as number), 0);
  const faults = segments.reduce((a, s) => a + s.faults.throw + s.faults.exit + s.faults.terminate, 0);
  const totals = {
    accepted: sum('accepted'),
    lost: sum('lost'),
    doubled: sum('doubled'),
    faults,
    restarts: sum('restarts'),
    redelivered: sum('redelivered'),
  };
  const reasons: string[] = [];
  const g = o.crashes === undefined ? growth(idles, Math.max(o.warmupMs, warmupEndMs)) : [];
  for (const x of g) {
    if (x.pct > o.maxGrowthPct)
      reasons.push(`${x.metric} grew ${x.pct.toFixed(1)}% after warm-up (limit ${o.maxGrowthPct}%)`);
  }
  if (totals.lost !== 0) reasons.push(`${totals.lost} raises lost`);
  if (totals.doubled > totals.redelivered)
    reasons.push(`${totals.doubled} raises seen twice, more than the ${totals.redelivered} redelivered`);
  for (const s of segments) {
    if (s.accepted !== s.raised)
      reasons.push(`${s.mode}: the device accepted ${s.accepted}, core counted ${s.raised} raised`);
    if (s.pending !== 0 || s.dropped !== 0)
      reasons.push(`${s.mode}: ${s.pending} pending and ${s.dropped} dropped after the drain`);
    if (s.raised !== s.delivered + s.coalesced + s.pending + s.dropped)
      reasons.push(`${s.mode}: accounting does not balance`);
    if (s.unexpected.length)
      reasons.push(`${s.mode}: unexpected errors: ${s.unexpected.slice(0, 3).join('; ')}`);
  }
  if (idleEnd.fds > idleFirst.fds)
    reasons.push(`fds ${idleFirst.fds} → ${idleEnd.fds} with no dispatcher running`);
  if (idleEnd.threads > idleFirst.threads)
    reasons.push(`threads ${idleFirst.threads} → ${idleEnd.threads} with no dispatcher running`);
  if (o.crashes !== undefined && totals.faults < o.crashes)
    reasons.push(`only ${totals.faults} of ${o.crashes} faults happened`);
  return {
    options: o,
    ms,
    samples,
    segments,
    growth: g,
    growthFromFirst: o.crashes === undefined ? growth(idles, 0) : [],
    warmupEndMs: Math.round(warmupEndMs),
    idle: { fds: [idleFirst.fds, idleEnd.fds], threads: [idleFirst.threads, idleEnd.threads] },
    totals,
    verdict: { pass: reasons.length === 0, reasons },
  };
}

/** One dispatcher, one mode, under a storm, with faults and rebalances; drained and checked. */
async function segment(
  o: SoakReport['options'],
  rng: Rng,
  mode: DispatchMode,
  until: { ms?: number; crashes?: number },
  log: (line: string) => void,
  warmup = false,
): Promise<SegmentResult> {
  const n = o.vectors;
  const index = VFIO_PCI_MSIX_IRQ_INDEX;
  const device = new SoftDevice({ msix: { vectors: n } });
  const seen = new Int32Array(new SharedArrayBuffer(n * 4));
  const calls = new Int32Array(new SharedArrayBuffer(n * 4));
  const fault = new Int32Array(new SharedArrayBuffer(16));
  const data: SoakHandlerData = {
    seen: seen.buffer as SharedArrayBuffer,
    calls: calls.buffer as SharedArrayBuffer,
    fault: fault.buffer as SharedArrayBuffer,
    vectors: n,
  };
  const d = new Dispatcher({
    device,
    index,
    vectors: n,
    workers: o.workers,
    mode,
    module: new URL('./soak-handler.js', import.meta.url),
    data,
  });
  const faults: Record<Fault, number> = { throw: 0, exit: 0, terminate: 0 };
  const unexpected: string[] = [];
  let restarts = 0;
  let handlerErrors = 0;
  let workerErrors = 0;
  d.on('restart', () => restarts++);
  d.on('error', (e) => {
    const code = e.error.code;
    if (code === 'ERR_VIRQ_HANDLER' && /soak: injected throw/.test(e.error.message)) handlerErrors++;
    else if (code === 'ERR_VIRQ_WORKER') workerErrors++;
    else unexpected.push(`${code}: ${e.error.message}`);
  });
  const t0 = performance.now();
  await d.start();
  const accepted = new Float64Array(new SharedArrayBuffer(n * 8));
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const raiserData: RaiserData = {
    table: device.vectorTable.handle,
    index,
    vectors: n,
    accepted: accepted.buffer as SharedArrayBuffer,
    stop: stop.buffer as SharedArrayBuffer,
  };
  const raiser = new Worker(new URL('./soak-raiser.js', import.meta.url), { workerData: raiserData });
  const raiserExit = new Promise((r) => raiser.once('exit', r));
  // The storm's clock starts once the raiser raises: on a loaded machine a thread can take a second to
  // start, which was all of a 1-s warm-up cycle (5 of 30 saw no raise, so no fault, at load ~20).
  await waitUntil(() => accepted.some((x) => x > 0), 30_000);
  const tStorm = performance.now();
  let rebalances = 0;
  const rebalanceErrors: string[] = [];
  const kinds = o.faults.filter((k) => k !== 'terminate' || typeof restartWorkerOf(d) === 'function');
  const planted = () => faults.throw + faults.exit + faults.terminate;
  const done = () =>
    until.crashes !== undefined ? planted() >= until.crashes : performance.now() - tStorm >= until.ms!;
  let nextFault = performance.now() + (until.crashes !== undefined ? 0 : rng.delay(o.faultEveryMs));
  let nextRebalance = performance.now() + rng.delay(o.rebalanceEveryMs);
  while (!done()) {
    const now = performance.now();
    if (kinds.length > 0 && now >= nextFault && Atomics.load(fault, FAULT.TARGET) === 0) {
      const kind = kinds[rng.int(kinds.length)];
      const before = restarts;
      if (kind === 'terminate') {
        await restartWorkerOf(d)!(rng.int(o.workers));
      } else {
        Atomics.store(fault, FAULT.KIND, FaultKind[kind]);
        Atomics.store(fault, FAULT.TARGET, rng.int(n) + 1);
      }
      faults[kind]++;
      // The next fault once this one is over (taken, and its worker replaced): a second fault on a
      // worker still being replaced would be one crash for two faults, and the verdict counts exactly
      // one replacement per exit or terminate. (Seen in a 10-minute run: 7 exits + 3 terminates, 9
      // replacements.) Taken at once in a storm; a planted fault the segment's end withdraws is uncounted.
      await waitUntil(
        () => Atomics.load(fault, FAULT.TARGET) === 0 || (until.crashes === undefined && done()),
        30_000,
      );
      if (kind !== 'throw' && Atomics.load(fault, FAULT.TARGET) === 0)
        await waitUntil(() => restarts > before, 30_000);
      if (until.crashes !== undefined) {
        await sleep(rng.int(20)); // then a random moment into the storm
        nextFault = performance.now();
      } else nextFault = performance.now() + rng.delay(o.faultEveryMs);
      continue;
    }
    if (now >= nextRebalance) {
      const off = rng.int(o.workers);
      const spec: AffinitySpec =
        rng.next() < 0.3 ? (rng.next() < 0.5 ? 'spread' : 'block') : (_v, pos, w) => (pos + off) % w;
      try {
        await d.rebalance(spec);
        rebalances++;
      } catch (e) {
        rebalanceErrors.push(`${(e as { code?: string }).code}: ${(e as Error).message}`);
      }
      nextRebalance = performance.now() + rng.delay(o.rebalanceEveryMs);
      continue;
    }
    await sleep(
      Math.max(1, Math.min(nextFault, nextRebalance, tStorm + (until.ms ?? 1e12)) - performance.now()),
    );
  }
  const stormMs = performance.now() - tStorm;
  Atomics.store(stop, 0, 1);
  await raiserExit;
  // a fault planted but not taken yet is withdrawn (its vector may see no call once the storm stops)
  if (Atomics.exchange(fault, FAULT.TARGET, 0) !== 0) {
    const kind = Atomics.load(fault, FAULT.KIND) === FaultKind.exit ? 'exit' : 'throw';
    faults[kind]--;
  }
  // drain: everything raised is delivered, coalesced, or (never, here) dropped
  await waitUntil(() => {
    const t = d.stats().totals;
    return t.pending === 0 && t.raised === t.delivered + t.coalesced + t.dropped;
  }, 30_000).catch(() => {});
  const s = d.stats();
  await d.stop();
  device.close();
  let acc = 0;
  let lost = 0;
  let doubled = 0;
  let seenSum = 0;
  let callSum = 0;
  for (let v = 0; v < n; v++) {
    acc += accepted[v];
    const c = s.vectors[v];
    const got = Atomics.load(seen, v);
    const ran = Atomics.load(calls, v);
    seenSum += got;
    callSum += ran;
    if (ran < c.delivered) lost += c.delivered - ran;
    else doubled += ran - c.delivered;
    if (mode === 'interrupt' && got < c.raised) lost += c.raised - got;
  }
  const t = s.totals;
  const result: SegmentResult = {
    mode,
    ms: Math.round(performance.now() - t0),
    accepted: acc,
    raised: t.raised,
    delivered: t.delivered,
    coalesced: t.coalesced,
    pending: t.pending,
    dropped: t.dropped,
    seen: seenSum,
    calls: callSum,
    lost,
    doubled,
    faults,
    restarts,
    redelivered: t.redelivered,
    handlerErrors: t.handlerErrors,
    rebalances,
    rebalanceErrors,
    unexpected,
    raisesPerSec: Math.round(acc / (stormMs / 1000)),
    warmup,
  };
  // every injected fault happened and was seen for what it was: a throw counted as a handler error,
  // an exit or a terminate as a replaced worker
  if (t.handlerErrors !== faults.throw)
    unexpected.push(`${faults.throw} throws injected, ${t.handlerErrors} handler errors counted`);
  if (restarts !== faults.exit + faults.terminate)
    unexpected.push(
      `${faults.exit} exits + ${faults.terminate} terminates injected, ${restarts} workers replaced`,
    );
  if (workerErrors < faults.exit)
    unexpected.push(`${faults.exit} exits injected, ${workerErrors} worker crashes reported`);
  if (handlerErrors === 0 && faults.throw > 0)
    unexpected.push('no handler error reported for the injected throws');
  log(
    `soak: ${warmup ? 'warm-up ' : ''}${mode} ${(result.ms / 1000).toFixed(1)} s, ${result.raisesPerSec} raises/s, ` +
      `faults ${faults.throw} throw / ${faults.exit} exit / ${faults.terminate} terminate, ` +
      `${restarts} restarts, ${rebalances} rebalances, lost ${lost}`,
  );
  return result;
}

/** The dispatcher's worker restart (terminate() from outside, then a replacement), when it has one. */
function restartWorkerOf(d: Dispatcher): ((workerId: number) => Promise<void>) | undefined {
  const f = (d as unknown as { terminateWorker?: (id: number) => Promise<void> }).terminateWorker;
  return typeof f === 'function' ? f.bind(d) : undefined;
}

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('soak: timed out');
    await sleep(5);
  }
}
