/**
 * Model-based property test: random sequences of setIrqs / raise / mask / unmask / consume / close run
 * against a SoftDevice and against a small reference model of mainline vfio-pci (plus the MSI-X mask
 * extension). After every step: same return value or errno, same eventfd counts, same per-vector state
 * bits (INTx's line level included), and the accounting invariant. After every run: no eventfd pool
 * slot or fd leaked.
 * Invariants checked: no delivery while masked (the model never signals a masked vector and every
 * eventfd count is compared), raised = delivered + coalesced + pending + dropped for every vector,
 * errors leave state as the kernel leaves it (unchanged, except set_block's documented unwind).
 * Accounting is checked against what the model itself raised, not only for adding up: the model keeps
 * every counter of every vector (raised, delivered, coalesced, pending, dropped, unrouted, external)
 * from the outcomes it predicted, and after every step each real counter must equal the model's, and
 * the table's total raised / unrouted must equal the number of raises the model accepted / sent
 * nowhere. A raise that is not counted, counted twice, or counted under the wrong heading (a held
 * raise taken for unrouted, a consumption that turns into `external`) fails the step that made it.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_ERR_IRQ_INDEX as ERR,
  EventFdPool,
  VFIO_PCI_INTX_IRQ_INDEX as INTX,
  VFIO_IRQ_SET_ACTION_MASK as MASK,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  VFIO_IRQ_SET_DATA_NONE as NONE,
  VFIO_PCI_REQ_IRQ_INDEX as REQ,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
  VFIO_IRQ_SET_ACTION_UNMASK as UNMASK,
  VfioError,
} from '../src/index.js';
import { openFds } from './helpers/kit.js';

const NV = 4; // MSI-X vectors
type Item = 'A' | 'B' | -1 | 'bad';
type Type = 'none' | 'intx' | 'msix';

interface Vec {
  trigger: string | null;
  masked: boolean;
  pba: boolean;
}

/** One vector's counters as the model predicts them (VectorCounters' fields). */
interface Acct {
  raised: number;
  delivered: number;
  coalesced: number;
  pending: number;
  dropped: number;
  unrouted: number;
  external: number;
}

interface Model {
  type: Type;
  allocated: number;
  msix: Vec[];
  intx: { trigger: string | null; masked: boolean; level: boolean; held: boolean };
  err: string | null;
  req: string | null;
  counts: Map<string, bigint>;
  closed: Set<string>;
  /** Per vector (`index.vector`): the counters the model's own raises and consumptions imply. */
  acct: Map<string, Acct>;
  /** Every raise the model made, by what became of it: accepted (counted in raised) or sent nowhere. */
  total: { accepted: number; unrouted: number };
}

interface Real {
  dev: SoftDevice;
  efds: Map<string, SharedEventFd>;
  bad: SharedEventFd;
}

type Result = number | string; // return value or errno code

function call(fn: () => number): Result {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VfioError) return err.code;
    throw err;
  }
}

const efdName = (index: number, v: number, item: 'A' | 'B') => `${index}.${v}.${item}`;

function resolve(r: Real, index: number, v: number, item: Item): number | SharedEventFd {
  if (item === -1) return -1;
  if (item === 'bad') return r.bad;
  return r.efds.get(efdName(index, v, item))!;
}

function modelItemValid(m: Model, index: number, v: number, item: Item): boolean {
  return item === -1 || (item !== 'bad' && !m.closed.has(efdName(index, v, item)));
}

function signal(m: Model, name: string): void {
  m.counts.set(name, (m.counts.get(name) ?? 0n) + 1n);
}

/** The vectors the device's table holds (INTx 1, MSI-X NV, ERR 1, REQ 1; no MSI capability). */
const VECTORS: ReadonlyArray<readonly [number, number]> = [
  [INTX, 0],
  ...Array.from({ length: NV }, (_, v) => [MSIX, v] as const),
  [ERR, 0],
  [REQ, 0],
];

function acct(m: Model, index: number, v: number): Acct {
  return m.acct.get(`${index}.${v}`)!;
}

/**
 * The model's bookkeeping of one raise by its outcome (vector-table.ts's header): signalled and held
 * are raised and pending, coalesced is raised and coalesced at once, unrouted is only unrouted.
 */
function count(m: Model, index: number, v: number, outcome: string): void {
  const a = acct(m, index, v);
  if (outcome === 'unrouted') {
    a.unrouted++;
    m.total.unrouted++;
    return;
  }
  a.raised++;
  m.total.accepted++;
  if (outcome === 'coalesced') a.coalesced++;
  else a.pending++;
}

/** A held interrupt thrown away unsignalled (unbind, disable, deassert): pending -> dropped. */
function dropHeld(m: Model, index: number, v: number): void {
  const a = acct(m, index, v);
  a.pending--;
  a.dropped++;
}

/** A consumer read n >= 1 from one of the vector's eventfds: 1 delivered, n - 1 coalesced. */
function consumed(m: Model, index: number, v: number, n: bigint): void {
  if (n <= 0n) return;
  const a = acct(m, index, v);
  a.delivered++;
  a.coalesced += Number(n) - 1;
  // every signal in the vector's eventfds was counted pending when the model raised it
  a.pending -= Number(n);
}

/** vfio_msi_set_vector_signal in the model; returns an errno or 0. */
function msixSetVector(m: Model, v: number, item: Item): Result {
  const vec = m.msix[v];
  const had = vec.trigger !== null;
  if (had) {
    vec.trigger = null;
    if (vec.pba) dropHeld(m, MSIX, v);
    vec.pba = false;
  }
  if (item === -1) return 0;
  if (!had && v >= m.allocated) return 'EINVAL';
  if (!modelItemValid(m, MSIX, v, item)) return 'EBADF';
  vec.trigger = efdName(MSIX, v, item as 'A' | 'B');
  return 0;
}

function msixRaise(m: Model, v: number): string {
  const outcome = msixOutcome(m, v);
  count(m, MSIX, v, outcome);
  return outcome;
}

function msixOutcome(m: Model, v: number): string {
  const vec = m.msix[v];
  if (m.type !== 'msix' || v >= m.allocated || !vec.trigger) return 'unrouted';
  if (vec.masked) {
    if (vec.pba) return 'coalesced';
    vec.pba = true;
    return 'held';
  }
  signal(m, vec.trigger);
  return 'signalled';
}

/**
 * vfio_send_intx_eventfd: signals the trigger of enabled INTx; an interrupt the mask held goes out
 * now, already counted; with no trigger the raise is counted unrouted.
 */
function intxSend(m: Model): void {
  if (m.type === 'intx' && m.intx.trigger) {
    if (!m.intx.held) count(m, INTX, 0, 'signalled');
    m.intx.held = false;
    signal(m, m.intx.trigger);
  } else count(m, INTX, 0, 'unrouted');
}

/** Withdraws the interrupt INTx holds, if any. */
function intxUnhold(m: Model): void {
  if (m.intx.held) dropHeld(m, INTX, 0);
  m.intx.held = false;
}

function clearMsix(m: Model): void {
  // vfio_msi_disable: every trigger is freed first; a held interrupt goes with it (dropped)
  for (let v = 0; v < NV; v++) if (m.msix[v].pba) dropHeld(m, MSIX, v);
  for (const vec of m.msix) Object.assign(vec, { trigger: null, masked: false, pba: false });
  m.allocated = 0;
}

/** Compares the real device with the model. */
function checkState(m: Model, r: Real): void {
  const t = r.dev.vectorTable;
  for (const [name, efd] of r.efds) {
    if (m.closed.has(name)) continue;
    const got = efd.peek();
    if (got !== (m.counts.get(name) ?? 0n))
      throw new Error(`eventfd ${name}: ${got} != model ${m.counts.get(name)}`);
  }
  for (let v = 0; v < NV; v++) {
    const s = t.state(MSIX, v);
    const e = m.msix[v];
    const want = {
      enabled: m.type === 'msix' && v < m.allocated,
      triggered: !!e.trigger,
      masked: e.masked,
      pendingBit: e.pba,
    };
    for (const k of Object.keys(want) as Array<keyof typeof want>) {
      if (s[k] !== want[k]) throw new Error(`MSI-X ${v} ${k}: ${s[k]} != model ${want[k]}`);
    }
  }
  const si = t.state(INTX, 0);
  if (si.enabled !== (m.type === 'intx')) throw new Error('INTx enabled differs');
  if (si.triggered !== !!m.intx.trigger) throw new Error('INTx trigger differs');
  if (m.type === 'intx' && si.masked !== m.intx.masked) throw new Error('INTx masked differs');
  if (si.pendingBit !== m.intx.held) throw new Error(`INTx held ${si.pendingBit} != ${m.intx.held}`);
  // the line level other threads read from the table (VectorState.level) follows assert / deassert
  if (si.level !== m.intx.level) throw new Error(`INTx level ${si.level} != model ${m.intx.level}`);
  if (t.state(ERR, 0).triggered !== !!m.err || t.state(REQ, 0).triggered !== !!m.req)
    throw new Error('ERR/REQ differ');
  const bad = t.checkInvariant();
  if (bad.length) throw new Error(`invariant broken: ${JSON.stringify(bad)}`);
  checkCounters(m, r);
}

/** Every counter of every vector equals the model's, and the totals equal the raises it made. */
function checkCounters(m: Model, r: Real): void {
  const t = r.dev.vectorTable;
  let raised = 0;
  let unrouted = 0;
  for (const [index, v] of VECTORS) {
    const got = t.counters(index, v);
    const want = acct(m, index, v);
    for (const k of Object.keys(want) as Array<keyof Acct>) {
      if (got[k] !== want[k])
        throw new Error(
          `counters ${index}.${v} ${k}: ${got[k]} != model ${want[k]} (${JSON.stringify(got)})`,
        );
    }
    raised += got.raised;
    unrouted += got.unrouted;
  }
  if (raised !== m.total.accepted || unrouted !== m.total.unrouted)
    throw new Error(
      `totals: raised ${raised} / unrouted ${unrouted} != the model's raises ${m.total.accepted} / ${m.total.unrouted}`,
    );
}

type Cmd = fc.Command<Model, Real>;

function cmd(label: string, step: (m: Model, r: Real) => void): Cmd {
  return {
    check: () => true,
    run(m, r) {
      step(m, r);
      checkState(m, r);
    },
    toString: () => label,
  };
}

function expectResult(label: string, got: Result, want: Result): void {
  if (got !== want) throw new Error(`${label}: got ${got}, model says ${want}`);
}

const item = fc.constantFrom<Item>('A', 'B', 'A', 'B', 'A', 'B', -1, 'bad');

const commandList = [
  // MSI-X SET_IRQS EVENTFD|TRIGGER over [start, start + items)
  fc
    .tuple(fc.integer({ min: 0, max: NV - 1 }), fc.array(item, { minLength: 0, maxLength: NV }))
    .map(([start, items]) =>
      cmd(`msixBind(${start}, ${JSON.stringify(items)})`, (m, r) => {
        const count = items.length;
        const got = call(() =>
          r.dev.setIrqs({
            flags: EFD | TRIG,
            index: MSIX,
            start,
            count,
            data: items.map((it, i) => resolve(r, MSIX, start + i, it)),
          }),
        );
        let want: Result;
        if (start + count > NV) want = 'EINVAL';
        else if (m.type === 'intx') want = 'EINVAL';
        else {
          const enabling = m.type === 'none';
          if (enabling && start + count === 0) want = 'ERANGE';
          else {
            if (enabling) {
              m.type = 'msix';
              m.allocated = start + count;
            }
            want = 0;
            let j = start;
            for (; j < start + count && want === 0; j++) want = msixSetVector(m, j, items[j - start]);
            if (want !== 0) {
              for (let k = start; k < j; k++) msixSetVector(m, k, -1);
              if (enabling) {
                clearMsix(m);
                m.type = 'none';
              }
            }
          }
        }
        expectResult('msixBind', got, want);
      }),
    ),
  fc.constant(
    cmd('msixDisable', (m, r) => {
      const got = call(() => r.dev.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: 0 }));
      if (m.type === 'msix') {
        clearMsix(m);
        m.type = 'none';
        expectResult('msixDisable', got, 0);
      } else expectResult('msixDisable', got, 'EINVAL');
    }),
  ),
  fc.integer({ min: 0, max: NV - 1 }).map((v) =>
    cmd(`msixRaise(${v})`, (m, r) => {
      const want = msixRaise(m, v);
      expectResult('msixRaise', r.dev.raise(MSIX, v), want);
    }),
  ),
  fc.tuple(fc.integer({ min: 0, max: NV - 1 }), fc.boolean()).map(([v, mask]) =>
    cmd(`msix${mask ? 'Mask' : 'Unmask'}(${v})`, (m, r) => {
      const got = call(() =>
        r.dev.setIrqs({ flags: NONE | (mask ? MASK : UNMASK), index: MSIX, start: v, count: 1 }),
      );
      if (m.type !== 'msix' || v >= m.allocated) return expectResult('msixMask', got, 'EINVAL');
      const vec = m.msix[v];
      if (mask) vec.masked = true;
      else if (vec.masked) {
        vec.masked = false;
        if (vec.pba) {
          vec.pba = false;
          if (vec.trigger) signal(m, vec.trigger);
        }
      }
      expectResult('msixMask', got, 0);
    }),
  ),
  fc.tuple(fc.integer({ min: 0, max: NV - 1 }), fc.integer({ min: 1, max: NV })).map(([start, count]) =>
    cmd(`msixLoopback(${start}, ${count})`, (m, r) => {
      const got = call(() => r.dev.setIrqs({ flags: NONE | TRIG, index: MSIX, start, count }));
      if (start + count > NV || m.type !== 'msix') return expectResult('msixLoopback', got, 'EINVAL');
      for (let v = start; v < start + count; v++) if (m.msix[v].trigger) msixRaise(m, v);
      expectResult('msixLoopback', got, 0);
    }),
  ),
  item.map((it) =>
    cmd(`intxBind(${it})`, (m, r) => {
      const got = call(() =>
        r.dev.setIrqs({
          flags: EFD | TRIG,
          index: INTX,
          start: 0,
          count: 1,
          data: [resolve(r, INTX, 0, it)],
        }),
      );
      if (m.type === 'msix') return expectResult('intxBind', got, 'EINVAL');
      if (!modelItemValid(m, INTX, 0, it)) return expectResult('intxBind', got, 'EBADF');
      const trig = it === -1 ? null : efdName(INTX, 0, it as 'A' | 'B');
      if (m.type === 'intx') {
        m.intx.trigger = trig;
        if (!trig) intxUnhold(m);
      } else {
        m.type = 'intx';
        m.intx.trigger = trig;
        m.intx.masked = false;
        m.intx.held = false;
        if (m.intx.level) {
          m.intx.masked = true;
          intxSend(m);
        }
      }
      expectResult('intxBind', got, 0);
    }),
  ),
  fc.constant(
    cmd('intxDisable', (m, r) => {
      const got = call(() => r.dev.setIrqs({ flags: NONE | TRIG, index: INTX, start: 0, count: 0 }));
      if (m.type !== 'intx') return expectResult('intxDisable', got, 'EINVAL');
      m.type = 'none';
      m.intx.trigger = null;
      m.intx.masked = false;
      intxUnhold(m);
      expectResult('intxDisable', got, 0);
    }),
  ),
  fc.boolean().map((assert) =>
    cmd(assert ? 'intxAssert' : 'intxDeassert', (m, r) => {
      const x = m.intx;
      if (!assert) {
        r.dev.deassertIntx();
        x.level = false;
        intxUnhold(m);
        return;
      }
      const routed = m.type === 'intx' && !!x.trigger;
      let want: string;
      if (x.level) {
        want = routed ? 'coalesced' : 'unrouted';
        count(m, INTX, 0, want);
      } else {
        x.level = true;
        if (m.type === 'intx' && !x.masked) {
          x.masked = true;
          want = routed ? 'signalled' : 'unrouted';
          intxSend(m); // counts it
        } else if (routed) {
          x.held = true;
          want = 'held';
          count(m, INTX, 0, want);
        } else {
          want = 'unrouted';
          count(m, INTX, 0, want);
        }
      }
      expectResult('intxAssert', r.dev.assertIntx(), want);
    }),
  ),
  fc.boolean().map((mask) =>
    cmd(mask ? 'intxMask' : 'intxUnmask', (m, r) => {
      const got = call(() =>
        r.dev.setIrqs({ flags: NONE | (mask ? MASK : UNMASK), index: INTX, start: 0, count: 1 }),
      );
      if (m.type !== 'intx') return expectResult('intxMask', got, 'EINVAL');
      if (mask) m.intx.masked = true;
      else if (m.intx.masked) {
        if (m.intx.level) intxSend(m);
        else m.intx.masked = false;
      }
      expectResult('intxMask', got, 0);
    }),
  ),
  fc.constant(
    cmd('intxLoopback', (m, r) => {
      const got = call(() => r.dev.setIrqs({ flags: NONE | TRIG, index: INTX, start: 0, count: 1 }));
      if (m.type !== 'intx') return expectResult('intxLoopback', got, 'EINVAL');
      intxSend(m);
      expectResult('intxLoopback', got, 0);
    }),
  ),
  fc.tuple(fc.constantFrom(ERR, REQ), fc.constantFrom<Item>('A', -1, 'bad')).map(([index, it]) =>
    cmd(`${index === ERR ? 'err' : 'req'}Bind(${it})`, (m, r) => {
      const got = call(() =>
        r.dev.setIrqs({ flags: EFD | TRIG, index, start: 0, count: 1, data: [resolve(r, index, 0, it)] }),
      );
      const key = index === ERR ? 'err' : 'req';
      if (!modelItemValid(m, index, 0, it)) return expectResult('singleBind', got, 'EBADF');
      m[key] = it === -1 ? null : efdName(index, 0, 'A');
      expectResult('singleBind', got, 0);
    }),
  ),
  fc.constantFrom(ERR, REQ).map((index) =>
    cmd(`${index === ERR ? 'err' : 'req'}Raise`, (m, r) => {
      const trig = index === ERR ? m.err : m.req;
      if (trig) signal(m, trig);
      const want = trig ? 'signalled' : 'unrouted';
      count(m, index, 0, want);
      expectResult('singleRaise', r.dev.raise(index), want);
    }),
  ),
  fc.tuple(fc.constantFrom(INTX, MSIX, ERR, REQ), fc.integer({ min: 0, max: NV - 1 })).map(([index, vv]) =>
    cmd(`consume(${index}, ${vv})`, (m, r) => {
      const v = index === MSIX ? vv : 0;
      const trig =
        index === MSIX ? m.msix[v].trigger : index === INTX ? m.intx.trigger : index === ERR ? m.err : m.req;
      const want = trig && !m.closed.has(trig) ? (m.counts.get(trig) ?? 0n) : trig ? null : 0n;
      if (want === null) return; // a closed eventfd can no longer be read by anyone
      const got = r.dev.vectorTable.consume(index, v);
      if (trig) m.counts.set(trig, 0n);
      consumed(m, index, v, want);
      if (got !== want) throw new Error(`consume: got ${got}, model ${want}`);
    }),
  ),
  fc
    .tuple(
      fc.constantFrom(INTX, MSIX, ERR, REQ),
      fc.integer({ min: 0, max: NV - 1 }),
      fc.constantFrom<'A' | 'B'>('A', 'B'),
    )
    .map(([index, vv, which]) =>
      cmd(`close(${index}, ${vv}, ${which})`, (m, r) => {
        const name = efdName(index, index === MSIX ? vv : 0, index === ERR || index === REQ ? 'A' : which);
        if (m.closed.has(name)) return;
        r.efds.get(name)!.close();
        m.closed.add(name);
      }),
    ),
];

// weights: MSI-X mask/raise/unmask interleavings are where held interrupts live, so they come often;
// disables and closes reset a lot of state, so they come rarely
const W = [4, 1, 5, 5, 1, 1, 2, 2, 2, 1, 1, 1, 2, 1];
const commands = commandList.flatMap((c, i) => Array.from({ length: W[i] ?? 1 }, () => c));

function setup(): { model: Model; real: Real } {
  const dev = new SoftDevice({ intx: true, msix: { vectors: NV, maskable: true }, pcie: true });
  const efds = new Map<string, SharedEventFd>();
  const names = [
    ...Array.from({ length: NV }, (_, v) => [efdName(MSIX, v, 'A'), efdName(MSIX, v, 'B')]).flat(),
    efdName(INTX, 0, 'A'),
    efdName(INTX, 0, 'B'),
    efdName(ERR, 0, 'A'),
    efdName(REQ, 0, 'A'),
  ];
  for (const n of names) efds.set(n, SharedEventFd.create({ nonblock: true }));
  const bad = SharedEventFd.create();
  bad.close();
  const model: Model = {
    type: 'none',
    allocated: 0,
    msix: Array.from({ length: NV }, () => ({ trigger: null, masked: false, pba: false })),
    intx: { trigger: null, masked: false, level: false, held: false },
    err: null,
    req: null,
    counts: new Map(),
    closed: new Set(),
    acct: new Map(
      VECTORS.map(([index, v]) => [
        `${index}.${v}`,
        { raised: 0, delivered: 0, coalesced: 0, pending: 0, dropped: 0, unrouted: 0, external: 0 },
      ]),
    ),
    total: { accepted: 0, unrouted: 0 },
  };
  return { model, real: { dev, efds, bad } };
}

/**
 * Drains every eventfd that is still open, crediting it to the vector it serves; with a model, the
 * model is credited the same and checked (each drained count must be the one the model raised).
 */
function drainAll(real: Real, model?: Model): void {
  const t = real.dev.vectorTable;
  for (const [name, efd] of real.efds) {
    if (efd.closed) continue;
    const [index, v] = name.split('.').map(Number);
    const n = efd.tryRead() ?? 0n;
    if (n) t.recordConsumed(index, v, n);
    if (model) {
      const want = model.counts.get(name) ?? 0n;
      if (n !== want) throw new Error(`drain ${name}: ${n} != model ${want}`);
      model.counts.set(name, 0n);
      consumed(model, index, v, n);
    }
  }
  if (model) checkCounters(model, real);
}

test('model-based: random setIrqs / raise / mask / unmask / consume / close sequences match the reference model', (t) => {
  const fdsBefore = openFds();
  const liveBefore = EventFdPool.default.live;
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), (cmds) => {
      const s = setup();
      try {
        fc.modelRun(() => s, cmds);
        drainAll(s.real, s.model);
        const bad = s.real.dev.vectorTable.checkInvariant();
        if (bad.length) throw new Error(`invariant after drain: ${JSON.stringify(bad)}`);
      } finally {
        s.real.dev.close();
        for (const e of s.real.efds.values()) if (!e.closed) e.close();
      }
      // every reference the device took has been put back: the pool is where it was
      if (EventFdPool.default.live !== liveBefore) throw new Error('eventfd pool slot leaked');
    }),
    { numRuns: Number(process.env.MODEL_RUNS ?? 300), includeErrorInReport: true },
  );
  t.is(EventFdPool.default.live, liveBefore);
  t.deepEqual(openFds(), fdsBefore);
});

test('model-based: with triggers bound, every raise is delivered or coalesced once all vectors are unmasked and drained', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: NV - 1 }), fc.boolean()), { maxLength: 200 }),
      (ops) => {
        const s = setup();
        try {
          const items = ['A', 'A', 'A', 'A'].map((_, v) => resolve(s.real, MSIX, v, 'A'));
          s.real.dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: NV, data: items });
          const raisedTo = new Array<number>(NV).fill(0);
          for (const [v, flip] of ops) {
            if (flip) {
              if (s.real.dev.vectorTable.state(MSIX, v).masked) s.real.dev.vectorTable.unmask(MSIX, v);
              else s.real.dev.vectorTable.mask(MSIX, v);
            } else {
              s.real.dev.raise(MSIX, v);
              raisedTo[v]++;
            }
          }
          for (let v = 0; v < NV; v++) s.real.dev.vectorTable.unmask(MSIX, v);
          drainAll(s.real);
          for (let v = 0; v < NV; v++) {
            const c = s.real.dev.vectorTable.counters(MSIX, v);
            // every vector had a trigger throughout: nothing may be dropped, everything raised is consumed
            if (c.pending !== 0 || c.dropped !== 0 || c.raised !== c.delivered + c.coalesced) {
              throw new Error(`vector ${v}: ${JSON.stringify(c)}`);
            }
            // ... and what was raised is exactly what this test raised: none unrouted, none foreign
            if (c.raised !== raisedTo[v] || c.unrouted !== 0 || c.external !== 0) {
              throw new Error(`vector ${v}: raised ${raisedTo[v]} here, table says ${JSON.stringify(c)}`);
            }
          }
          const total = raisedTo.reduce((x, y) => x + y, 0);
          let counted = 0;
          for (let v = 0; v < NV; v++) counted += s.real.dev.vectorTable.counters(MSIX, v).raised;
          if (counted !== total) throw new Error(`raised ${total} in total, table counts ${counted}`);
        } finally {
          s.real.dev.close();
          for (const e of s.real.efds.values()) if (!e.closed) e.close();
        }
      },
    ),
    { numRuns: 200, includeErrorInReport: true },
  );
  t.pass();
});
