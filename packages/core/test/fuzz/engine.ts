/**
 * The SoftDevice fuzzer: random SET_IRQS / GET_IRQ_INFO / raise / mask / consume / close-an-eventfd
 * sequences, well-formed and not, against a SoftDevice whose configuration changes every epoch. It has
 * no reference model (model.test.ts has one, for short well-formed runs); it checks invariants that
 * must hold whatever the input:
 *
 * 1. Only a VfioError (errno name, negative errno, a VFIO syscall) or a TypeError / RangeError with a
 *    stable `ERR_*` code is ever thrown.
 * 2. An error changes nothing (state bits, triggers, counters, irq type, allocated vectors, INTx
 *    hardware state, virqfds), except the kernel's documented unwind: an MSI/MSI-X EVENTFD trigger
 *    call tears down the triggers of its own range [start, start + count) (vfio_msi_set_block), and if
 *    the call enabled the index it disables it again (msi_qmax, set by vfio_msi_enable, stays; dynamic
 *    MSI-X may keep vectors it allocated: they form a cache until disable).
 * 3. Accounting balances after every step: raised = delivered + coalesced + pending + dropped for
 *    every vector, counters other than pending never decrease, a raise counts once (raised + 1, or
 *    unrouted + 1), and a masked vector is never signalled.
 * 4. No leaks: at every epoch's end (device closed, eventfds closed) the eventfd pool and the
 *    process's fd table are back where they started.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { EventFd } from '@virq/native';
import {
  closeKernelProbe,
  ERRNO,
  EventFdPool,
  type IrqSet,
  SharedEventFd,
  SoftDevice,
  type SoftDeviceOptions,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VfioError,
} from '../../src/index.js';
import { Rng } from './rng.js';
import { type DeviceSnapshot, diffSnapshots, snapshot } from './snapshot.js';

/** Fuzzer run options. */
export interface FuzzOptions {
  /** Operations to run in total. */
  ops: number;
  /** PRNG seed; the same seed replays the same run. */
  seed: number;
  /** Operations per device epoch (a fresh configuration, then a leak check). Default 2000. */
  epochOps?: number;
  /** Stop after this many violations (default 20). */
  maxViolations?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One broken invariant. */
export interface Violation {
  /** Operation number (0-based) in the run. */
  op: number;
  /** Which invariant. */
  invariant: 'thrown' | 'unwind' | 'accounting' | 'leak' | 'info';
  /** The operation, readable. */
  what: string;
  detail: string;
}

/** What a run did. */
export interface FuzzReport {
  seed: number;
  ops: number;
  epochs: number;
  violations: Violation[];
  /** Outcome counts: 'ok', raise outcomes, and error codes ('VfioError:EINVAL', 'TypeError:ERR_…'). */
  outcomes: Record<string, number>;
  durationMs: number;
}

const VFIO_SYSCALLS = new Set([
  'VFIO_DEVICE_SET_IRQS',
  'VFIO_DEVICE_GET_IRQ_INFO',
  'eventfd_read',
  'eventfd_write',
  'eventfd_ctx_fdget',
]);
const POOL_SIZE = 8;

type Efd = SharedEventFd | EventFd;

/** One epoch's world: the device and the eventfds the operations pick from. */
class World {
  readonly dev: SoftDevice;
  readonly efds: Efd[] = [];
  readonly extra: Efd[] = [];
  constructor(
    readonly rng: Rng,
    readonly opts: SoftDeviceOptions,
    readonly notEventfd: number,
  ) {
    this.dev = new SoftDevice(opts);
    for (let i = 0; i < POOL_SIZE; i++) this.efds.push(this.newEfd());
  }

  newEfd(): Efd {
    return this.rng.bool(0.5)
      ? SharedEventFd.create({ nonblock: true, semaphore: this.rng.bool(0.1) })
      : EventFd.create({ nonblock: true, semaphore: this.rng.bool(0.1) });
  }

  count(index: number): number {
    return this.dev.irqCount(index);
  }

  close(): void {
    this.dev.close();
    for (const e of [...this.efds, ...this.extra]) if (!e.closed) e.close();
  }
}

function randomDeviceOptions(rng: Rng): SoftDeviceOptions {
  return {
    intx: rng.bool(0.85)
      ? { pci23: rng.bool(0.8), routed: rng.bool(0.9), maskEventfd: rng.bool(0.5) }
      : false,
    msi: rng.bool(0.7) ? { vectors: 1 << rng.int(0, 3), maskable: rng.bool(0.6) } : false,
    msix: rng.bool(0.9) ? { vectors: rng.int(1, 8), dynamic: rng.bool(0.4), maskable: rng.bool(0.6) } : false,
    pcie: rng.bool(0.7),
    req: rng.bool(0.8),
    grantVectors: rng.bool(0.15) ? rng.int(1, 4) : undefined,
  };
}

const GARBAGE: unknown[] = [null, undefined, 'x', {}, 1.5, Number.NaN, true, [], -0.5, 2 ** 40];

/** One element of DATA_EVENTFD data. */
function randomItem(w: World): unknown {
  const { rng } = w;
  const e = rng.pick(w.efds);
  const r = rng.next();
  if (r < 0.55) return e;
  if (r < 0.68) return e instanceof EventFd ? e.fd : -1;
  if (r < 0.78) return -1;
  if (r < 0.83) return e instanceof SharedEventFd ? e.handle : e;
  if (r < 0.88) return w.notEventfd;
  if (r < 0.94) return rng.pick([1_000_000, -2, -3, 0x7fffffff, 2]);
  return rng.pick(GARBAGE);
}

function randomIndex(w: World): unknown {
  const { rng } = w;
  if (rng.bool(0.93)) {
    // weight toward the enabled type, where the interesting state is
    const t = w.dev.irqType;
    if (t < VFIO_PCI_NUM_IRQS && rng.bool(0.5)) return t;
    return rng.int(0, VFIO_PCI_NUM_IRQS - 1);
  }
  return rng.pick([VFIO_PCI_NUM_IRQS, 7, -1, 0xffffffff, 1.5, '2', null]);
}

function randomFlags(rng: Rng): unknown {
  const data = [VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD];
  const action = [VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_ACTION_TRIGGER];
  let flags = rng.pick(data) | rng.weighted(action, [2, 2, 5]);
  if (rng.bool(0.04)) flags |= rng.pick(data); // two data types: -EINVAL
  if (rng.bool(0.04)) flags |= rng.pick(action);
  if (rng.bool(0.03)) flags = rng.pick(action); // no data type
  if (rng.bool(0.02)) flags |= 1 << rng.int(6, 31);
  if (rng.bool(0.01)) return rng.pick(GARBAGE);
  return flags;
}

/**
 * A well-formed call on an index the device has: binds, masks, unmasks, loopbacks and disables, where
 * the held interrupts, virqfds and unwinds live. Its arguments may still be refused (state, fds).
 */
function wellFormedSet(w: World): IrqSet | null {
  const { rng, dev } = w;
  const present = [0, 1, 2, 3, 4].filter((i) => w.count(i) > 0);
  if (present.length === 0) return null;
  const t = dev.irqType;
  const index = t < VFIO_PCI_NUM_IRQS && present.includes(t) && rng.bool(0.7) ? t : rng.pick(present);
  const max = w.count(index);
  const start = rng.int(0, max - 1);
  const count = rng.int(1, max - start);
  const kind = rng.weighted(
    ['bind', 'mask', 'unmask', 'loopback', 'disable', 'virqfd'],
    [5, 3, 3, 1, 0.6, 1],
  );
  const T = VFIO_IRQ_SET_ACTION_TRIGGER;
  switch (kind) {
    case 'bind': {
      const data = Array.from({ length: count }, () => (rng.bool(0.75) ? rng.pick(w.efds) : randomItem(w)));
      return { flags: VFIO_IRQ_SET_DATA_EVENTFD | T, index, start, count, data: data as IrqSet['data'] };
    }
    case 'disable':
      return { flags: VFIO_IRQ_SET_DATA_NONE | T, index, start: 0, count: 0 };
    case 'loopback':
      return { flags: VFIO_IRQ_SET_DATA_NONE | T, index, start, count };
    case 'virqfd': {
      const action = rng.bool(0.5) ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK;
      const data = Array.from({ length: count }, () => (rng.bool(0.3) ? -1 : rng.pick(w.efds)));
      return { flags: VFIO_IRQ_SET_DATA_EVENTFD | action, index, start, count, data: data as IrqSet['data'] };
    }
    default: {
      const action = kind === 'mask' ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK;
      if (rng.bool(0.7)) return { flags: VFIO_IRQ_SET_DATA_NONE | action, index, start, count };
      const bools = Uint8Array.from({ length: count }, () => (rng.bool(0.6) ? 1 : 0));
      return { flags: VFIO_IRQ_SET_DATA_BOOL | action, index, start, count, data: bools };
    }
  }
}

/** A random `struct vfio_irq_set`: well-formed most of the time, anything at all otherwise. */
function randomSet(w: World): unknown {
  const { rng } = w;
  if (rng.bool(0.6)) {
    const set = wellFormedSet(w);
    if (set) return set;
  }
  if (rng.bool(0.01)) return rng.pick([null, undefined, 3, 'set']);
  const flags = randomFlags(rng);
  const index = randomIndex(w);
  const max = typeof index === 'number' && Number.isInteger(index) ? w.count(index) : 1;
  let start: unknown = rng.int(0, Math.max(0, max));
  let count: unknown = rng.int(0, Math.max(1, max + 1 - (start as number)));
  if (rng.bool(0.03)) start = rng.pick([0xffffffff, -1, 2 ** 31, 1.5, max + 5]);
  if (rng.bool(0.03)) count = rng.pick([0xffffffff, -1, 2 ** 31, 0.5, max + 5]);
  const n = typeof count === 'number' && count >= 0 && count <= 64 ? Math.floor(count) : 1;
  const set: Record<string, unknown> = { flags, index, start, count };
  const f = typeof flags === 'number' ? flags : 0;
  // the data a DATA_* flag expects, sometimes a wrong length (argsz) or the wrong kind
  let len = n;
  if (rng.bool(0.06)) len = Math.max(0, n + rng.pick([-1, 1, 3]));
  if (f & VFIO_IRQ_SET_DATA_EVENTFD || (rng.bool(0.05) && f & VFIO_IRQ_SET_DATA_BOOL)) {
    const items = Array.from({ length: len }, () => randomItem(w));
    set.data =
      rng.bool(0.1) && items.every((x) => typeof x === 'number' && Number.isInteger(x))
        ? Int32Array.from(items as number[])
        : items;
  } else if (f & VFIO_IRQ_SET_DATA_BOOL || rng.bool(0.03)) {
    const bytes = Array.from({ length: len }, () => (rng.bool(0.6) ? 1 : 0));
    set.data = rng.bool(0.5) ? Uint8Array.from(bytes) : bytes.map((b) => (rng.bool(0.5) ? b === 1 : b));
  }
  if (rng.bool(0.02)) set.argsz = rng.pick([0, 8, 20, 1 << 20, -1]);
  if (rng.bool(0.01)) delete set[rng.pick(['flags', 'index', 'start', 'count'])];
  return set;
}

/** Checks a thrown value against invariant 1; null if acceptable, else why not. */
export function classifyThrown(err: unknown): { key: string; bad: string | null } {
  if (err instanceof VfioError) {
    const known = Object.hasOwn(ERRNO, err.code);
    const ok = known && err.errno === -ERRNO[err.code] && VFIO_SYSCALLS.has(err.syscall);
    return {
      key: `VfioError:${err.code}`,
      bad: ok ? null : `VfioError with code ${err.code} errno ${err.errno} syscall ${err.syscall}`,
    };
  }
  if (err instanceof TypeError || err instanceof RangeError) {
    const code = (err as { code?: unknown }).code;
    const coded = typeof code === 'string' && /^ERR_[A-Z0-9_]+$/.test(code);
    return {
      key: `${err.name}:${coded ? code : 'uncoded'}`,
      bad: coded ? null : `${err.name} without a stable code: ${err.message}`,
    };
  }
  const e = err as { name?: string; message?: string };
  return {
    key: `other:${e?.name}`,
    bad: `unexpected ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`,
  };
}

/** The documented unwind a failed SET_IRQS may leave (invariant 2), for {@link diffSnapshots}. */
function allowedUnwind(set: unknown, before: DeviceSnapshot): Parameters<typeof diffSnapshots>[2] {
  const s = set as Partial<IrqSet> | null;
  if (!s || typeof s !== 'object') return null;
  const { flags, index, start, count } = s;
  if (typeof flags !== 'number' || typeof start !== 'number' || typeof count !== 'number') return null;
  if (index !== VFIO_PCI_MSI_IRQ_INDEX && index !== VFIO_PCI_MSIX_IRQ_INDEX) return null;
  if (!(flags & VFIO_IRQ_SET_DATA_EVENTFD) || !(flags & VFIO_IRQ_SET_ACTION_TRIGGER)) return null;
  return { index, start, count, enabling: before.irqType === VFIO_PCI_NUM_IRQS };
}

type Step = { what: string; run: () => unknown; set?: unknown; raise?: { index: number; vector: number } };

/** Picks the next operation. */
function nextStep(w: World): Step {
  const { rng, dev } = w;
  const op = rng.weighted(
    [
      'set',
      'info',
      'raise',
      'intx',
      'intxDisable',
      'consume',
      'tableMask',
      'close',
      'write',
      'reset',
      'release',
    ],
    [40, 4, 26, 5, 1, 12, 3, 4, 2, 1, 0.5],
  );
  switch (op) {
    case 'set': {
      const set = randomSet(w);
      return { what: `setIrqs(${describe(set)})`, run: () => dev.setIrqs(set as IrqSet), set };
    }
    case 'info': {
      const index = randomIndex(w);
      const argsz = rng.bool(0.9) ? undefined : rng.pick([0, 8, 15, 16, 4096, -1, 1.5]);
      return {
        what: `getIrqInfo(${describe(index)}, ${argsz})`,
        run: () => {
          const info = dev.getIrqInfo(index as number, argsz);
          if (info.count !== dev.irqCount(index as number)) throw new InfoMismatch(info.count);
          return info;
        },
      };
    }
    case 'raise': {
      const t = dev.irqType;
      const index =
        t < VFIO_PCI_NUM_IRQS && rng.bool(0.6) ? t : rng.bool(0.97) ? (randomIndex(w) as number) : 9;
      const vector = rng.bool(0.95) ? rng.int(0, Math.max(0, w.count(index) - 1)) : rng.pick([-1, 99, 1.5]);
      return {
        what: `raise(${describe(index)}, ${vector})`,
        run: () => dev.raise(index, vector),
        raise: { index, vector },
      };
    }
    case 'intx': {
      const assert = rng.bool(0.6);
      return {
        what: assert ? 'assertIntx()' : 'deassertIntx()',
        run: () => (assert ? dev.assertIntx() : dev.deassertIntx()),
      };
    }
    case 'intxDisable': {
      const disable = rng.bool(0.5);
      return { what: `writeIntxDisable(${disable})`, run: () => dev.writeIntxDisable(disable) };
    }
    case 'consume': {
      const index = rng.int(0, VFIO_PCI_NUM_IRQS - 1);
      const n = w.count(index);
      if (n === 0) return { what: 'nothing', run: () => 0 };
      const vector = rng.int(0, n - 1);
      return { what: `consume(${index}, ${vector})`, run: () => dev.vectorTable.consume(index, vector) };
    }
    case 'tableMask': {
      const index = rng.pick([VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX]);
      const n = w.count(index);
      if (n === 0) return { what: 'nothing', run: () => 0 };
      const vector = rng.int(0, n - 1);
      const mask = rng.bool(0.5);
      return {
        what: `vectorTable.${mask ? 'mask' : 'unmask'}(${index}, ${vector})`,
        run: () => (mask ? dev.vectorTable.mask(index, vector) : dev.vectorTable.unmask(index, vector)),
      };
    }
    case 'close': {
      const i = rng.int(0, w.efds.length - 1);
      return {
        what: `close eventfd #${i}`,
        run: () => {
          const e = w.efds[i];
          if (!e.closed) e.close();
          // keep the pool full: a closed one stays reachable for a while (stale objects and fd numbers)
          w.extra.push(e);
          w.efds[i] = w.newEfd();
        },
      };
    }
    case 'write': {
      const e = rng.pick(w.efds);
      return {
        what: 'foreign eventfd write',
        run: () => {
          if (!e.closed) e.write(1);
        },
      };
    }
    case 'reset':
      return { what: 'reset()', run: () => dev.reset() };
    default:
      return { what: 'close() (device fd release)', run: () => dev.close() };
  }
}

class InfoMismatch extends Error {
  constructor(readonly got: number) {
    super(`getIrqInfo count ${got} differs from the device's`);
  }
}

function describe(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v) =>
      v instanceof SharedEventFd
        ? `shared#${v.handle.slot}${v.closed ? '(closed)' : ''}`
        : v instanceof EventFd
          ? `efd${v.closed ? '(closed)' : `:${v.fd}`}`
          : ArrayBuffer.isView(v)
            ? `${v.constructor.name}[${Array.from(v as Uint8Array).join(',')}]`
            : v === undefined
              ? 'undefined'
              : v,
    );
  } catch {
    return String(x);
  }
}

function openFds(): Set<string> {
  return new Set(readdirSync('/proc/self/fd'));
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Runs the fuzzer; never throws for a violation (they are in the report). */
export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const t0 = performance.now();
  const rng = new Rng(options.seed);
  const epochOps = options.epochOps ?? 2000;
  const maxViolations = options.maxViolations ?? 20;
  const violations: Violation[] = [];
  const outcomes: Record<string, number> = {};
  const count = (k: string) => {
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  };
  // opened before the baseline: /proc/self/fd's listing includes the directory fd readdir uses, the
  // lowest free number, which must be the same number at both ends
  const notEventfd = openSync('/dev/null', 'r');
  const fdsBefore = openFds();
  const liveBefore = EventFdPool.default.live;
  let op = 0;
  let epochs = 0;
  try {
    while (op < options.ops && violations.length < maxViolations) {
      epochs++;
      const w = new World(rng, randomDeviceOptions(rng), notEventfd);
      const end = Math.min(options.ops, op + epochOps);
      let prev = snapshot(w.dev);
      for (; op < end && violations.length < maxViolations; op++) {
        // let kernel-fd POLLHUP watches and virqfd callbacks run, as they would between ioctls
        if ((op & 63) === 0) await new Promise((r) => setImmediate(r));
        const step = nextStep(w);
        if (process.env.FUZZ_TRACE) process.stderr.write(`${op} ${step.what}\n`);
        const before = snapshot(w.dev);
        // what happened between steps (async teardown) must also keep the counters monotonic
        const between = diffSnapshots(prev, before, 'monotonic');
        if (between) violations.push({ op, invariant: 'accounting', what: 'between steps', detail: between });
        const fail = (invariant: Violation['invariant'], detail: string) =>
          violations.push({ op, invariant, what: step.what, detail });
        let result: unknown;
        let thrown: unknown;
        let threw = false;
        try {
          result = step.run();
        } catch (err) {
          thrown = err;
          threw = true;
        }
        const after = snapshot(w.dev);
        if (threw) {
          if (thrown instanceof InfoMismatch) {
            fail('info', thrown.message);
            count('info-mismatch');
          } else {
            const c = classifyThrown(thrown);
            count(c.key);
            if (c.bad) fail('thrown', c.bad);
            const d = diffSnapshots(
              before,
              after,
              step.set !== undefined ? allowedUnwind(step.set, before) : null,
            );
            if (d) fail('unwind', `${c.key}: ${d}`);
          }
        } else {
          count(step.raise ? `raise:${String(result)}` : 'ok');
          const d = diffSnapshots(before, after, 'monotonic');
          if (d) fail('accounting', d);
          if (step.raise) {
            const r = checkRaise(before, after, step.raise, result as string);
            if (r) fail('accounting', r);
          }
        }
        const broken = w.dev.vectorTable.checkInvariant();
        if (broken.length)
          fail('accounting', `raised != delivered+coalesced+pending+dropped: ${describe(broken)}`);
        prev = after;
      }
      w.close();
      await settle();
      closeKernelProbe();
      const live = EventFdPool.default.live;
      const extra = [...openFds()].filter((fd) => !fdsBefore.has(fd));
      if (live !== liveBefore)
        violations.push({
          op,
          invariant: 'leak',
          what: 'epoch end',
          detail: `pool slots ${liveBefore} → ${live}`,
        });
      if (extra.length)
        violations.push({
          op,
          invariant: 'leak',
          what: 'epoch end',
          detail: `fds left open: ${extra.join(',')}`,
        });
      if (options.log && epochs % 50 === 0) options.log(`fuzz: ${op} ops, ${violations.length} violations`);
    }
  } finally {
    closeSync(notEventfd);
  }
  return { seed: options.seed, ops: op, epochs, violations, outcomes, durationMs: performance.now() - t0 };
}

/** A raise counts exactly once and never signals a masked vector. */
function checkRaise(
  before: DeviceSnapshot,
  after: DeviceSnapshot,
  r: { index: number; vector: number },
  outcome: string,
): string | null {
  const key = `${r.index}.${r.vector}`;
  const b = before.vectors.get(key);
  const a = after.vectors.get(key);
  if (!b || !a) return null; // an invalid vector: it threw, or INTx's pin
  const dRaised = a.counters[0] - b.counters[0];
  const dUnrouted = a.counters[5] - b.counters[5];
  if (outcome === 'unrouted') {
    if (dRaised !== 0n || dUnrouted !== 1n)
      return `unrouted raise counted raised +${dRaised}, unrouted +${dUnrouted}`;
  } else if (dRaised !== 1n || dUnrouted !== 0n) {
    return `${outcome} raise counted raised +${dRaised}, unrouted +${dUnrouted}`;
  }
  // bit 4 is ST_MASKED: an MSI/MSI-X vector masked before the raise must hold it, never signal it
  if (r.index !== VFIO_PCI_INTX_IRQ_INDEX && b.bits & 4 && outcome === 'signalled')
    return 'a masked vector was signalled';
  return null;
}
