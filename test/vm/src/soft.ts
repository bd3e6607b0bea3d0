/**
 * The SoftDevice side of the differential: runs the same sequences as the guest's C runner against
 * @virq/core's SoftDevice, configured like the real device, with real kernel eventfds from
 * @virq/native, and records results in the runner's shape (OpResult).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SoftConfig } from './probe.js';
import { argszOf, type DataTok, type OpResult, type Sequence } from './seqfile.js';
import { DATA, DATA_TYPE_MASK } from './uapi.js';
import type { KernelName } from './vm.js';
import { importPackage } from './workspace.js';

/** The members of @virq/core's SoftDevice the harness uses. */
export interface SoftDeviceLike {
  getIrqInfo(index: number, argsz?: number): { index: number; count: number; flags: number };
  setIrqs(set: {
    flags: number;
    index: number;
    start: number;
    count: number;
    data?: Uint8Array | Int32Array;
    argsz?: number;
  }): number;
  close(): void;
  /** SoftDevice only (VfioDevice has neither): the replayed state a forgiveness matcher may read. */
  readonly irqType?: number;
  readonly allocatedVectors?: number;
}

/** The members of @virq/native's EventFd the harness uses. */
interface EventFdLike {
  readonly fd: number;
  read(): bigint;
  write(v?: bigint | number): void;
  close(): void;
}

/** What the soft side needs from the workspace packages. */
export interface SoftBackend {
  createDevice(config: SoftConfig, kernel: KernelName): SoftDeviceLike;
  createEventFd(): EventFdLike;
  /** Closes what @virq/core keeps per thread between calls (its poll probe), before fds are counted. */
  release(): void;
}

/** Loads SoftDevice (@virq/core) and EventFd (@virq/native); says why when it cannot. */
export async function loadSoftBackend(): Promise<
  { ok: true; backend: SoftBackend } | { ok: false; reason: string }
> {
  const core = await importPackage<{
    SoftDevice?: new (o: SoftConfig & { kernel: KernelName }) => SoftDeviceLike;
    closeKernelProbe?: () => void;
  }>('core');
  if (!core.ok) return core;
  const native = await importPackage<{
    isAvailable?: () => boolean;
    EventFd?: { create(o: { nonblock: boolean }): EventFdLike };
  }>('native');
  if (!native.ok) return native;
  const { SoftDevice } = core.mod;
  const { EventFd, isAvailable } = native.mod;
  if (typeof SoftDevice !== 'function') return { ok: false, reason: '@virq/core exports no SoftDevice' };
  if (!EventFd || typeof isAvailable !== 'function' || !isAvailable()) {
    return { ok: false, reason: '@virq/native is not available (addon not built?)' };
  }
  return {
    ok: true,
    backend: {
      createDevice: (config, kernel) => new SoftDevice({ ...config, kernel }),
      createEventFd: () => EventFd.create({ nonblock: true }),
      release: () => core.mod.closeKernelProbe?.(),
    },
  };
}

/** A thrown VfioError's negative errno, or the error itself when it is something else. */
function errnoOf(err: unknown): number {
  const e = err as { errno?: unknown; name?: string };
  if (e?.name === 'VfioError' && typeof e.errno === 'number' && e.errno < 0) return e.errno;
  throw err;
}

type Slot =
  | { kind: 'eventfd'; efd: EventFdLike }
  | { kind: 'other'; fd: number }
  | { kind: 'closed'; fd: number };

function slotFd(slot: Slot | undefined, n: number): number {
  if (!slot) throw new Error(`slot ${n} is not set`);
  return slot.kind === 'eventfd' ? slot.efd.fd : slot.fd;
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * SET_IRQS data as the kernel would see it: the bytes of the data tokens. DATA_EVENTFD/DATA_BOOL get
 * an Int32Array/Uint8Array; anything else (invalid type combinations) is rejected before data is read.
 */
function dataFor(
  flags: number,
  toks: readonly DataTok[],
  slots: Map<number, Slot>,
): Uint8Array | Int32Array | undefined {
  if (toks.length === 0) return undefined;
  const bytes: number[] = [];
  for (const t of toks) {
    if ('b' in t) bytes.push(t.b & 0xff);
    else {
      const v = 'i' in t ? t.i : slotFd(slots.get(t.s), t.s);
      const b = new Uint8Array(new Int32Array([v]).buffer);
      bytes.push(...b);
    }
  }
  const raw = Uint8Array.from(bytes);
  if ((flags & DATA_TYPE_MASK) === DATA.EVENTFD) {
    return new Int32Array(raw.buffer, 0, Math.floor(raw.length / 4));
  }
  return raw;
}

/** Reads every eventfd slot without blocking, like the runner: a count or 0. */
function counts(slots: Map<number, Slot>): Record<string, number> {
  const ev: Record<string, number> = {};
  for (const [n, s] of [...slots.entries()].sort((a, b) => a[0] - b[0])) {
    if (s.kind !== 'eventfd') continue;
    try {
      ev[String(n)] = Number(s.efd.read());
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
      ev[String(n)] = 0;
    }
  }
  return ev;
}

/** How to run sequences against one kind of device. */
export interface SequenceEnv {
  /** A fresh device (the runner's "seq" line): SoftDevice, or a newly opened vfio device fd. */
  open(): SoftDeviceLike;
  createEventFd(): EventFdLike;
}

/**
 * The SoftDevice side: a new SoftDevice per sequence, configured like the real one and answering as
 * `kernel` (the @virq/core kernel profile of the same name).
 */
export function softEnv(backend: SoftBackend, config: SoftConfig, kernel: KernelName): SequenceEnv {
  return {
    open: () => backend.createDevice(config, kernel),
    createEventFd: () => backend.createEventFd(),
  };
}

/**
 * Runs one sequence. virqfds on kernel eventfds are serviced by the event loop (@virq/core's epoll
 * watch) or by the kernel's workqueues, so every op yields to the loop, and signal/close wait a little
 * longer — the counterpart of the runner's settle().
 */
export async function runSequence(env: SequenceEnv, seq: Sequence): Promise<OpResult[]> {
  const dev = env.open();
  const slots = new Map<number, Slot>();
  const out: OpResult[] = [];
  try {
    for (const [i, op] of seq.ops.entries()) {
      const state =
        dev.irqType === undefined || dev.allocatedVectors === undefined
          ? undefined
          : { irqType: dev.irqType, allocatedVectors: dev.allocatedVectors };
      let ret = 0;
      let info: { flags: number; count: number } | undefined;
      switch (op.op) {
        case 'fd': {
          if (op.kind === 'eventfd') slots.set(op.slot, { kind: 'eventfd', efd: env.createEventFd() });
          else if (op.kind === 'pipe') slots.set(op.slot, { kind: 'other', fd: openSync('/dev/null', 'r') });
          else {
            const fd = 1000 + op.slot;
            if (isOpen(fd)) throw new Error(`fd ${fd} is open; cannot stand for a closed fd`);
            slots.set(op.slot, { kind: 'closed', fd });
          }
          break;
        }
        case 'set': {
          const data = dataFor(op.flags, op.data, slots);
          const set = {
            flags: op.flags >>> 0,
            index: op.index >>> 0,
            start: op.start >>> 0,
            count: op.count >>> 0,
          };
          try {
            ret = dev.setIrqs(
              op.argsz === undefined ? { ...set, data } : { ...set, data, argsz: argszOf(op) },
            );
          } catch (err) {
            ret = errnoOf(err);
          }
          break;
        }
        case 'info':
          try {
            const r = dev.getIrqInfo(op.index >>> 0, op.argsz);
            info = { flags: r.flags, count: r.count };
          } catch (err) {
            ret = errnoOf(err);
            info = { flags: 0, count: 0 };
          }
          break;
        case 'signal': {
          const s = slots.get(op.slot);
          if (s?.kind !== 'eventfd') throw new Error(`signal: slot ${op.slot} is not an eventfd`);
          s.efd.write(1n);
          break;
        }
        case 'close': {
          const s = slots.get(op.slot);
          if (s?.kind === 'eventfd') s.efd.close();
          else if (s?.kind === 'other') closeSync(s.fd);
          slots.delete(op.slot);
          break;
        }
      }
      await (op.op === 'signal' || op.op === 'close' ? sleep(5) : new Promise((r) => setImmediate(r)));
      out.push({
        seq: seq.id,
        i,
        op: op.op,
        ret,
        ...(info ?? {}),
        ev: counts(slots),
        ...(state ? { state } : {}),
      });
    }
  } finally {
    dev.close();
    for (const s of slots.values()) {
      if (s.kind === 'eventfd') s.efd.close();
      else if (s.kind === 'other') closeSync(s.fd);
    }
    // the runner closes the device fd here too; let released virqfds finish on the event loop
    await new Promise((r) => setImmediate(r));
  }
  return out;
}
