/**
 * A deterministic, seeded generator of SET_IRQS sequences for the VM's two devices: a set of directed
 * sequences that walk every path the spec names (so coverage never depends on luck), then random walks
 * that mix valid and invalid steps. The kernel's answer is the truth; the generator only aims.
 */

import type { DataTok, DeviceAlias, Op, Sequence } from './seqfile.js';
import { ACTION, DATA, INDEX } from './uapi.js';

/** IRQ counts per index (INTX, MSI, MSIX, ERR, REQ) that the generator aims at; the VM test checks them. */
export const AIMED_COUNTS: Record<DeviceAlias, readonly number[]> = {
  edu: [1, 1, 0, 0, 1],
  e1000e: [1, 1, 5, 1, 1],
};

/** mulberry32: small, fast, and the same on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRIG = ACTION.TRIGGER;
const EFD_TRIG = DATA.EVENTFD | TRIG;
const NONE_TRIG = DATA.NONE | TRIG;
const BOOL_TRIG = DATA.BOOL | TRIG;
const s = (slot: number): DataTok => ({ s: slot });
const i32 = (v: number): DataTok => ({ i: v });
const b = (v: number): DataTok => ({ b: v });
const set = (
  flags: number,
  index: number,
  start: number,
  count: number,
  data: DataTok[] = [],
  argsz?: number,
): Op =>
  argsz === undefined
    ? { op: 'set', flags, index, start, count, data }
    : { op: 'set', argsz, flags, index, start, count, data };
const efds = (...slots: number[]): Op[] => slots.map((slot) => ({ op: 'fd', slot, kind: 'eventfd' }) as Op);

/** Hand-written sequences: one per path of the spec that a random walk could miss. */
export function directedSequences(): Sequence[] {
  const out: Sequence[] = [];
  const add = (device: DeviceAlias, note: string, ops: Op[]) =>
    out.push({ id: `d${String(out.length).padStart(2, '0')}`, device, note, ops });
  const { INTX, MSI, MSIX, ERR, REQ } = INDEX;

  for (const device of ['edu', 'e1000e'] as const) {
    add(device, 'INTx: enable, loopback NONE/BOOL, mask/unmask, swap and remove the trigger, disable', [
      ...efds(0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(0)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(BOOL_TRIG, INTX, 0, 1, [b(1)]),
      set(BOOL_TRIG, INTX, 0, 1, [b(0)]),
      set(DATA.NONE | ACTION.MASK, INTX, 0, 1),
      set(DATA.NONE | ACTION.MASK, INTX, 0, 1),
      set(DATA.BOOL | ACTION.UNMASK, INTX, 0, 1, [b(1)]),
      set(DATA.BOOL | ACTION.MASK, INTX, 0, 1, [b(0)]),
      set(EFD_TRIG, INTX, 0, 1, [s(1)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [i32(-1)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(0)]),
      set(NONE_TRIG, INTX, 0, 0),
      set(NONE_TRIG, INTX, 0, 1),
      set(NONE_TRIG, INTX, 0, 0),
    ]);
    add(device, 'INTx unmask eventfd: install, EBUSY on a second, signal, remove with -1, POLLHUP on close', [
      ...efds(0, 1, 2),
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [s(1)]),
      set(EFD_TRIG, INTX, 0, 1, [s(0)]),
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [s(1)]),
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [s(2)]),
      { op: 'signal', slot: 1 },
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [i32(-1)]),
      { op: 'signal', slot: 1 },
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [s(2)]),
      { op: 'close', slot: 2 },
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [s(1)]),
      set(DATA.EVENTFD | ACTION.MASK, INTX, 0, 1, [s(1)]),
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [i32(-1)]),
      set(DATA.EVENTFD | ACTION.UNMASK, INTX, 0, 1, [i32(-1)]),
      set(NONE_TRIG, INTX, 0, 0),
    ]);
    add(device, 'INTx: bad fds on the enable path (EBADF, EINVAL) leave INTx disabled', [
      ...efds(0),
      { op: 'fd', slot: 1, kind: 'closed' },
      { op: 'fd', slot: 2, kind: 'pipe' },
      set(EFD_TRIG, INTX, 0, 1, [s(1)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(2)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(DATA.NONE | ACTION.UNMASK, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(0)]),
      set(EFD_TRIG, INTX, 0, 1, [s(1)]),
      set(NONE_TRIG, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(2)]),
      set(NONE_TRIG, INTX, 0, 1),
    ]);
    add(device, 'MSI: enable, loopback, other types refused while enabled, MASK/UNMASK, disable, re-enable', [
      ...efds(0, 1),
      set(EFD_TRIG, MSI, 0, 1, [s(0)]),
      set(NONE_TRIG, MSI, 0, 1),
      set(BOOL_TRIG, MSI, 0, 1, [b(1)]),
      set(EFD_TRIG, INTX, 0, 1, [s(1)]),
      set(EFD_TRIG, MSIX, 0, 1, [s(1)]),
      set(DATA.NONE | ACTION.MASK, MSI, 0, 1),
      set(DATA.NONE | ACTION.UNMASK, MSI, 0, 1),
      set(DATA.NONE | ACTION.MASK, INTX, 0, 1),
      set(EFD_TRIG, MSI, 0, 2, [s(0), s(1)]),
      set(EFD_TRIG, MSI, 0, 1, [s(1)]),
      set(NONE_TRIG, MSI, 0, 1),
      set(NONE_TRIG, MSI, 0, 0),
      set(NONE_TRIG, MSI, 0, 1),
      set(EFD_TRIG, MSI, 0, 1, [i32(-1)]),
      set(NONE_TRIG, MSI, 0, 1),
      set(NONE_TRIG, MSI, 0, 0),
    ]);
    add(device, 'ranges, argsz and flags: every early EINVAL of validate_and_prepare', [
      ...efds(0),
      set(EFD_TRIG, INTX, 0, 1, [s(0)], 19),
      set(EFD_TRIG, INTX, 0, 1, [s(0)], 0),
      set(EFD_TRIG, INTX, 0, 1, [s(0)], 23),
      set(BOOL_TRIG, INTX, 0, 1, [b(1)], 20),
      set(NONE_TRIG, 5, 0, 1),
      set(NONE_TRIG, 0xffffffff, 0, 1),
      set(NONE_TRIG, INTX, 0xffffffff, 1),
      set(NONE_TRIG, INTX, 1, 0xffffffff),
      set(NONE_TRIG, INTX, 1, 0),
      set(NONE_TRIG, INTX, 0, 2),
      set(0x40 | NONE_TRIG, INTX, 0, 1),
      set(0x80000000 | NONE_TRIG, INTX, 0, 1),
      set(DATA.NONE | DATA.BOOL | TRIG, INTX, 0, 1, [b(1)]),
      set(DATA.NONE | DATA.EVENTFD | TRIG, INTX, 0, 1, [s(0)]),
      set(TRIG, INTX, 0, 1),
      set(DATA.NONE, INTX, 0, 1),
      set(DATA.NONE | ACTION.MASK | ACTION.UNMASK, INTX, 0, 1),
      set(DATA.NONE | ACTION.MASK | TRIG, INTX, 0, 1),
      set(EFD_TRIG, INTX, 0, 0),
      set(BOOL_TRIG, INTX, 0, 0),
      { op: 'info', index: INTX, argsz: 15 },
      { op: 'info', index: 5 },
      { op: 'info', index: 0xffffffff },
      { op: 'info', index: ERR },
      { op: 'info', index: REQ, argsz: 1000 },
    ]);
    add(device, 'REQ (and ERR where it exists): plain single triggers', [
      ...efds(0, 1),
      set(EFD_TRIG, REQ, 0, 1, [s(0)]),
      set(NONE_TRIG, REQ, 0, 1),
      set(BOOL_TRIG, REQ, 0, 1, [b(1)]),
      set(BOOL_TRIG, REQ, 0, 1, [b(0)]),
      set(BOOL_TRIG, REQ, 0, 0),
      set(EFD_TRIG, REQ, 0, 0),
      set(NONE_TRIG, REQ, 1, 0),
      set(NONE_TRIG, REQ, 0, 2),
      set(DATA.NONE | ACTION.MASK, REQ, 0, 1),
      set(NONE_TRIG, REQ, 0, 0),
      set(NONE_TRIG, REQ, 0, 1),
      set(EFD_TRIG, REQ, 0, 1, [s(1)]),
      set(EFD_TRIG, REQ, 0, 1, [i32(-1)]),
      set(NONE_TRIG, REQ, 0, 1),
      set(EFD_TRIG, ERR, 0, 1, [s(0)]),
      set(NONE_TRIG, ERR, 0, 1),
      set(BOOL_TRIG, ERR, 0, 0),
      set(NONE_TRIG, ERR, 0, 0),
      set(NONE_TRIG, ERR, 0, 1),
      set(EFD_TRIG, INTX, 0, 1, [s(1)]),
      set(EFD_TRIG, REQ, 0, 1, [s(1)]),
      set(NONE_TRIG, REQ, 0, 1),
      set(NONE_TRIG, INTX, 0, 1),
    ]);
  }
  add('e1000e', 'MSI-X: a bad fd on the enable path disables everything again', [
    ...efds(0, 1, 2),
    { op: 'fd', slot: 3, kind: 'closed' },
    set(EFD_TRIG, MSIX, 0, 4, [s(0), s(1), s(3), s(2)]),
    set(NONE_TRIG, MSIX, 0, 1),
    set(EFD_TRIG, INTX, 0, 1, [s(0)]),
    set(NONE_TRIG, INTX, 0, 0),
    set(EFD_TRIG, MSIX, 0, 3, [s(0), i32(-1), s(2)]),
    set(NONE_TRIG, MSIX, 0, 3),
    set(BOOL_TRIG, MSIX, 0, 3, [b(1), b(1), b(0)]),
  ]);
  add('e1000e', 'MSI-X: a bad fd in set_block unwinds the vectors of that call only', [
    ...efds(0, 1, 2, 3),
    { op: 'fd', slot: 4, kind: 'pipe' },
    set(EFD_TRIG, MSIX, 0, 5, [s(0), s(1), s(2), s(3), s(0)]),
    set(NONE_TRIG, MSIX, 0, 5),
    set(EFD_TRIG, MSIX, 1, 3, [s(3), s(4), s(2)]),
    set(NONE_TRIG, MSIX, 0, 5),
    set(EFD_TRIG, MSIX, 2, 3, [s(1), s(2), s(4)]),
    set(NONE_TRIG, MSIX, 0, 5),
    set(BOOL_TRIG, MSIX, 0, 5, [b(1), b(0), b(1), b(0), b(1)]),
    set(NONE_TRIG, MSIX, 3, 3),
    set(NONE_TRIG, MSIX, 0, 0),
    set(NONE_TRIG, MSIX, 0, 1),
  ]);
  add(
    'e1000e',
    'MSI-X: growing while enabled (Debian 6.1 refuses, dynamic MSI-X allows), shrinking, re-enable',
    [
      ...efds(0, 1, 2),
      set(EFD_TRIG, MSIX, 0, 2, [s(0), s(1)]),
      set(EFD_TRIG, MSIX, 2, 1, [s(2)]),
      set(NONE_TRIG, MSIX, 0, 3),
      set(EFD_TRIG, MSIX, 1, 1, [s(2)]),
      set(NONE_TRIG, MSIX, 0, 2),
      set(NONE_TRIG, MSIX, 1, 2),
      set(NONE_TRIG, MSIX, 0, 0),
      set(EFD_TRIG, MSIX, 3, 2, [s(0), s(1)]),
      set(NONE_TRIG, MSIX, 3, 2),
      set(NONE_TRIG, MSIX, 0, 1),
      set(EFD_TRIG, MSIX, 0, 6, [s(0), s(1), s(2), s(0), s(1), s(2)]),
      set(EFD_TRIG, MSI, 0, 1, [s(0)]),
    ],
  );
  add('edu', 'MSI-X on a device without it; ERR on a function that is not PCIe', [
    ...efds(0),
    set(EFD_TRIG, MSIX, 0, 1, [s(0)]),
    set(NONE_TRIG, MSIX, 0, 0),
    set(EFD_TRIG, ERR, 0, 1, [s(0)]),
    set(NONE_TRIG, ERR, 0, 0),
    { op: 'info', index: MSIX },
    { op: 'info', index: ERR },
  ]);
  return out;
}

/** Mutable view of a sequence being built: which slots exist and what the walk believes is enabled. */
interface Walk {
  r: () => number;
  device: DeviceAlias;
  counts: readonly number[];
  ops: Op[];
  efd: number[];
  other: number[];
  nextSlot: number;
}

function pick<T>(w: Walk, xs: readonly T[]): T {
  return xs[Math.floor(w.r() * xs.length)];
}

function chance(w: Walk, p: number): boolean {
  return w.r() < p;
}

/** An fd token: mostly a live eventfd, sometimes -1, a non-eventfd, a closed number, or -2. */
function fdTok(w: Walk): DataTok {
  const x = w.r();
  if (x < 0.72 && w.efd.length) return s(pick(w, w.efd));
  if (x < 0.84) return i32(-1);
  if (x < 0.96 && w.other.length) return s(pick(w, w.other));
  return i32(-2);
}

/** An index: the device's live ones mostly, sometimes one it lacks or one out of range. */
function indexFor(w: Walk): number {
  const x = w.r();
  if (x < 0.9) {
    const live = [0, 1, 2, 3, 4].filter((i) => w.counts[i] > 0);
    return pick(w, [...live, ...live.filter((i) => i === INDEX.MSIX || i === INDEX.INTX)]);
  }
  if (x < 0.96) return pick(w, [0, 1, 2, 3, 4].filter((i) => w.counts[i] === 0).concat([INDEX.MSI]));
  return pick(w, [5, 6, 0xffffffff]);
}

/** start/count for an index: usually in range, sometimes past it or overflowing. */
function rangeFor(w: Walk, index: number): [number, number] {
  const n = w.counts[index] ?? 0;
  const x = w.r();
  if (x < 0.8 && n > 0) {
    const start = chance(w, 0.6) ? 0 : Math.floor(w.r() * n);
    const count = 1 + Math.floor(w.r() * (n - start));
    return [start, count];
  }
  if (x < 0.9) return [Math.floor(w.r() * (n + 1)), n + 1];
  if (x < 0.95) return [n, chance(w, 0.5) ? 0 : 1];
  return [0xfffffffe, 2];
}

function newSlot(w: Walk, kind: 'eventfd' | 'pipe' | 'closed'): void {
  if (w.nextSlot >= 16) return;
  const slot = w.nextSlot++;
  w.ops.push({ op: 'fd', slot, kind });
  (kind === 'eventfd' ? w.efd : w.other).push(slot);
}

/** One random step; each branch aims at a family of paths. */
function step(w: Walk): void {
  const { INTX, MSIX } = INDEX;
  const x = w.r() * 100;
  if (x < 22) {
    // eventfd triggers: enable, swap, remove, bad fds (with rollback when several are given)
    const index = indexFor(w);
    const [start, count] = rangeFor(w, index);
    const data = Array.from({ length: Math.min(count, 8) }, () => fdTok(w));
    w.ops.push(set(EFD_TRIG, index, start, count, data));
  } else if (x < 36) {
    // loopback: NONE or BOOL triggers on whatever is enabled
    const index = indexFor(w);
    const [start, count] = rangeFor(w, index);
    if (chance(w, 0.5)) w.ops.push(set(NONE_TRIG, index, start, count));
    else
      w.ops.push(
        set(
          BOOL_TRIG,
          index,
          start,
          count,
          Array.from({ length: Math.min(count, 8) }, () => b(pick(w, [0, 1, 1, 255]))),
        ),
      );
  } else if (x < 44) {
    // disable (count 0), occasionally with a start that is out of range
    const index = indexFor(w);
    w.ops.push(set(NONE_TRIG, index, chance(w, 0.9) ? 0 : 1, 0));
  } else if (x < 56) {
    // INTx (and others) MASK / UNMASK with every data type
    const action = chance(w, 0.5) ? ACTION.MASK : ACTION.UNMASK;
    const index = chance(w, 0.8) ? INTX : indexFor(w);
    const [start, count] = chance(w, 0.85) ? [0, 1] : rangeFor(w, index);
    const kind = pick(w, ['none', 'none', 'bool', 'eventfd', 'eventfd'] as const);
    if (kind === 'none') w.ops.push(set(DATA.NONE | action, index, start, count));
    else if (kind === 'bool') w.ops.push(set(DATA.BOOL | action, index, start, count, [b(pick(w, [0, 1]))]));
    else w.ops.push(set(DATA.EVENTFD | action, index, start, count, [fdTok(w)]));
  } else if (x < 64) {
    if (w.efd.length) w.ops.push({ op: 'signal', slot: pick(w, w.efd) });
  } else if (x < 67) {
    // close an fd (an installed virqfd sees POLLHUP), then maybe make a fresh one
    const all = [...w.efd, ...w.other.filter((sl) => !isClosedKind(w, sl))];
    if (all.length > 1) {
      const slot = pick(w, all);
      w.ops.push({ op: 'close', slot });
      w.efd = w.efd.filter((sl) => sl !== slot);
      w.other = w.other.filter((sl) => sl !== slot);
      if (chance(w, 0.7)) newSlot(w, 'eventfd');
    }
  } else if (x < 79) {
    malformed(w);
  } else if (x < 83) {
    w.ops.push({
      op: 'info',
      index: chance(w, 0.85) ? Math.floor(w.r() * 6) : 0xffffffff,
      ...(chance(w, 0.2) ? { argsz: pick(w, [0, 8, 15, 16, 64]) } : {}),
    });
  } else if (x < 90 && w.counts[MSIX] > 0) {
    // MSI-X: enable a prefix, then touch vectors past it (growth) or inside it
    const n = w.counts[MSIX];
    const first = 1 + Math.floor(w.r() * (n - 1));
    w.ops.push(
      set(
        EFD_TRIG,
        MSIX,
        0,
        first,
        Array.from({ length: first }, () => (w.efd.length ? s(pick(w, w.efd)) : i32(-1))),
      ),
    );
    const start = Math.floor(w.r() * n);
    const count = 1 + Math.floor(w.r() * (n - start));
    w.ops.push(
      set(
        EFD_TRIG,
        MSIX,
        start,
        count,
        Array.from({ length: count }, () => fdTok(w)),
      ),
    );
  } else {
    // single-trigger indexes (ERR, REQ) with their count-0 rules
    const index = chance(w, 0.5) ? INDEX.REQ : INDEX.ERR;
    const kind = pick(w, ['efd', 'none', 'bool'] as const);
    const count = chance(w, 0.7) ? 1 : 0;
    if (kind === 'efd') w.ops.push(set(EFD_TRIG, index, 0, count, count ? [fdTok(w)] : []));
    else if (kind === 'none') w.ops.push(set(NONE_TRIG, index, 0, count));
    else w.ops.push(set(BOOL_TRIG, index, 0, count, count ? [b(1)] : []));
  }
}

function isClosedKind(w: Walk, slot: number): boolean {
  return w.ops.some((o) => o.op === 'fd' && o.slot === slot && o.kind === 'closed');
}

/** Argument errors: short or truncated argsz, undefined or conflicting flags, bad index, overflow. */
function malformed(w: Walk): void {
  const index = indexFor(w);
  const [start, count] = rangeFor(w, index);
  const data = Array.from({ length: Math.min(count, 8) }, () => fdTok(w));
  switch (Math.floor(w.r() * 8)) {
    case 0:
      w.ops.push(set(EFD_TRIG, index, start, count, data, pick(w, [0, 4, 16, 19])));
      break;
    case 1:
      w.ops.push(
        set(EFD_TRIG, index, start, count, data, 20 + 4 * Math.max(0, count - 1) + pick(w, [0, 1, 3])),
      );
      break;
    case 2:
      w.ops.push(set(pick(w, [0x40, 0x100, 0x80000000]) | NONE_TRIG, index, start, count));
      break;
    case 3:
      w.ops.push(
        set(pick(w, [DATA.NONE | DATA.BOOL, DATA.BOOL | DATA.EVENTFD, 0]) | TRIG, index, start, count, data),
      );
      break;
    case 4:
      w.ops.push(
        set(
          DATA.NONE | pick(w, [0, ACTION.MASK | ACTION.UNMASK, ACTION.UNMASK | TRIG, 0x38]),
          index,
          start,
          count,
        ),
      );
      break;
    case 5:
      w.ops.push(
        set(NONE_TRIG, index, pick(w, [0xffffffff, 0x80000000]), pick(w, [1, 0x7fffffff, 0xffffffff])),
      );
      break;
    case 6:
      w.ops.push(set(NONE_TRIG, pick(w, [5, 7, 0xffffffff]), 0, 1));
      break;
    default:
      w.ops.push(set(BOOL_TRIG, index, start, count, [], 20 + Math.max(0, count - 1)));
  }
}

/** Options of {@link generateSequences}. */
export interface GenerateOptions {
  seed: number;
  /** Random sequences per device (directed ones come on top). */
  perDevice: number;
  /** Steps per random sequence: min and max. */
  steps?: [number, number];
}

/** Directed sequences, then `perDevice` random walks for each device, all determined by `seed`. */
export function generateSequences(opts: GenerateOptions): Sequence[] {
  const [lo, hi] = opts.steps ?? [3, 12];
  const out = directedSequences();
  const r = prng(opts.seed);
  for (let k = 0; k < opts.perDevice; k++) {
    for (const device of ['edu', 'e1000e'] as const) {
      const w: Walk = { r, device, counts: AIMED_COUNTS[device], ops: [], efd: [], other: [], nextSlot: 0 };
      const nEfd = 1 + Math.floor(r() * 3);
      for (let e = 0; e < nEfd; e++) newSlot(w, 'eventfd');
      if (chance(w, 0.5)) newSlot(w, 'pipe');
      if (chance(w, 0.5)) newSlot(w, 'closed');
      const n = lo + Math.floor(r() * (hi - lo + 1));
      for (let j = 0; j < n; j++) step(w);
      out.push({
        id: `r${device === 'edu' ? 'a' : 'b'}${String(k).padStart(3, '0')}`,
        device,
        note: 'random walk',
        ops: w.ops,
      });
    }
  }
  return out;
}
