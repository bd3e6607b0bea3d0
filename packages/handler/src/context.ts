/**
 * The `ctx` handed to a vector's `handler` and `thread`: which vector, how many raises this delivery
 * carries, the user's data, masking of this vector, and its counters.
 */
import { DispatchError, outOfRange } from './errors.js';
import { CUR, type DispatchState, VC, VI, WI } from './layout.js';
import type { TableOps } from './table-ops.js';

/** Counters of one vector, as `ctx.counters()` and `Dispatcher.stats()` report them. */
export interface VectorCounters {
  /** The vector number. */
  vector: number;
  /** Raises of the vector (core's vector table). */
  raised: number;
  /** Raises delivered: one per handler call (core). */
  delivered: number;
  /** Raises folded into another delivery (core). */
  coalesced: number;
  /** Raises neither delivered nor coalesced yet (core), including any a worker holds in flight. */
  pending: number;
  /** Held raises thrown away because the vector was torn down while masked (core). */
  dropped: number;
  /** Masked by the user (ctx.mask / Dispatcher.mask). */
  masked: boolean;
  /** 'interrupt' or 'poll': the vector's current NAPI mode. */
  mode: 'interrupt' | 'poll';
  /** Service worker that owns it (-1 while being handed over). */
  worker: number;
  /** Top-half calls made by the dispatcher. */
  handled: number;
  /** Top-half calls that threw. */
  handlerErrors: number;
  /** Deferred work queued (QUEUED 0 → 1). */
  deferredQueued: number;
  /** Requests for deferred work that found it already queued. */
  deferredCoalesced: number;
  /** Deferred runs finished (including failed ones). */
  deferredRuns: number;
  /** Deferred runs that threw or lost their thread. */
  deferredErrors: number;
  /** Switches interrupt → poll and poll → interrupt (hybrid). */
  toPoll: number;
  toInterrupt: number;
  /** NAPI polls made. */
  polls: number;
  /** Deliveries made again after the worker that held them died. */
  redelivered: number;
  /** Measured rate, raises per second (hybrid's estimate). */
  rate: number;
}

/** What a vector context needs from its thread. */
export interface ContextEnv {
  state: DispatchState;
  ops: TableOps;
  /** The VFIO irq index being serviced. */
  index: number;
  /** Vector numbers by position. */
  vectors: readonly number[];
  /** The user's `data` option. */
  data: unknown;
  /** Service-worker slot of this thread, -1 on any other thread. */
  selfSlot: number;
  /** Asks the owner of `pos` to look at it again (held deliveries after an unmask). */
  kick(slot: number, pos: number): void;
  /**
   * INTx only (undefined for edge-triggered indexes): end of interrupt — writes the unmask eventfd so
   * the automasked line is unmasked (or, still asserted, re-fires).
   */
  eoi?: () => void;
}

/**
 * The handler context. One instance per vector per thread, reused across calls: read it during
 * the call, do not keep it.
 */
export interface HandlerContext {
  /** The vector number. */
  readonly vector: number;
  /** The irq index (e.g. VFIO_PCI_MSIX_IRQ_INDEX). */
  readonly index: number;
  /** Raises this delivery carries (the trigger count read); 0 for a deferred run. */
  readonly count: number;
  /** Service worker running the call, or -1 in deferred work. */
  readonly workerId: number;
  /** The Dispatcher's `data` option, as cloned into this thread. */
  readonly data: unknown;
  /** Masked by the user right now. */
  readonly masked: boolean;
  /** The vector's NAPI mode right now. */
  readonly mode: 'interrupt' | 'poll';
  /**
   * Masks this vector: raises are held pending and no handler call for it starts until unmask().
   * From another thread it also waits for a running handler of this vector to return (disable_irq),
   * at most `options.timeoutMs` (default {@link DEFAULT_MASK_TIMEOUT_MS}); on timeout it throws a
   * DispatchError 'ERR_VIRQ_TIMEOUT' and leaves the mask as it was before the call. Masking its own vector
   * from inside its handler never waits.
   */
  mask(options?: MaskOptions): void;
  /** Unmasks this vector; whatever was held is delivered. */
  unmask(): void;
  /** This vector's counters. */
  counters(): VectorCounters;
}

/** Reads a vector's counters (shared by ctx.counters() and Dispatcher.stats()). */
export function readCounters(state: DispatchState, ops: TableOps, pos: number): VectorCounters {
  const c = ops.counters(pos);
  const v = (k: keyof typeof VC) => state.vcounter(pos, VC[k]);
  return {
    vector: state.vget(pos, VI.VECTOR),
    raised: c.raised,
    delivered: c.delivered,
    coalesced: c.coalesced,
    pending: c.pending,
    dropped: c.dropped,
    masked: state.vget(pos, VI.USER_MASKED) !== 0,
    mode: state.vget(pos, VI.MODE) === 0 ? 'interrupt' : 'poll',
    worker: state.vget(pos, VI.OWNER),
    handled: v('handled'),
    handlerErrors: v('handlerErrors'),
    deferredQueued: v('deferredQueued'),
    deferredCoalesced: v('deferredCoalesced'),
    deferredRuns: v('deferredRuns'),
    deferredErrors: v('deferredErrors'),
    toPoll: v('toPoll'),
    toInterrupt: v('toInterrupt'),
    polls: v('polls'),
    redelivered: v('redelivered'),
    rate: v('rate'),
  };
}

/** Options of a mask call. */
export interface MaskOptions {
  /**
   * How long to wait for a running handler of the vector to return; default
   * {@link DEFAULT_MASK_TIMEOUT_MS}.
   */
  timeoutMs?: number;
}

/** Default bound on how long a mask waits for a running handler: 1 s. */
export const DEFAULT_MASK_TIMEOUT_MS = 1000;
/** First and longest pause between looks at a running handler (ms): a back-off, not a spin. */
const NAP_MIN_MS = 0.02;
const NAP_MAX_MS = 5;

/** Checks a mask timeout; EINVAL for anything but a finite number >= 0. */
export function maskTimeout(options: MaskOptions | undefined): number {
  const t = options?.timeoutMs ?? DEFAULT_MASK_TIMEOUT_MS;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
    throw outOfRange(`mask: timeoutMs must be a finite number >= 0, got ${String(t)}`);
  }
  return t;
}

/**
 * Publishes the user mask of `pos`; returns whether it was masked already (what a timed-out mask
 * restores). The owner publishes CURRENT before it reads USER_MASKED, and we publish USER_MASKED
 * before anyone reads CURRENT (see {@link handlerRunning}), so (sequentially consistent Atomics)
 * either the owner sees the mask and holds the delivery, or the waiter sees it running.
 */
export function beginMask(env: ContextEnv, pos: number): boolean {
  const { state, ops } = env;
  const was = state.vget(pos, VI.USER_MASKED) !== 0;
  state.vset(pos, VI.USER_MASKED, 1);
  // Masking a masked vector is a no-op in the model; if the poll loop unmasks it concurrently, it
  // re-reads USER_MASKED after its unmask and masks again (see servicer.ts, complete()).
  ops.mask(pos);
  return was;
}

/**
 * True while a handler of `pos` runs on a thread other than the caller's (its own handler, masking
 * itself, must not wait for itself).
 */
export function handlerRunning(env: ContextEnv, pos: number): boolean {
  const { state } = env;
  const owner = state.vget(pos, VI.OWNER);
  return (
    owner >= 0 &&
    owner !== env.selfSlot &&
    // CURRENT may carry the main thread's flags (CUR.KILL / CUR.EVICT) on top of the position
    (state.wget(owner, WI.CURRENT) & CUR.POS) === pos &&
    state.vget(pos, VI.OWNER) === owner
  );
}

/** Undoes {@link beginMask} after a timeout: unmasked again unless it was masked before. */
export function abortMask(env: ContextEnv, pos: number, wasMasked: boolean): DispatchError {
  if (!wasMasked) unmaskVector(env, pos);
  const vector = env.vectors[pos];
  return new DispatchError(
    'ERR_VIRQ_TIMEOUT',
    `mask: the handler of vector ${vector} did not return in time; the vector is ${wasMasked ? 'still masked (it was before)' : 'unmasked again'}`,
    { vector },
  );
}

/** The next pause of the mask back-off: doubles from 20 µs up to 5 ms. */
export function nextNap(ms: number): number {
  return Math.min(ms * 2, NAP_MAX_MS);
}

/**
 * Masks `pos` for the user and, from a thread other than the owner, waits (blocking this thread,
 * with a back-off) until no handler of `pos` runs, at most `timeoutMs`: then it throws ETIMEDOUT
 * and restores the mask as it was (see {@link abortMask}). Two handlers masking each other's vectors
 * thus fail after the timeout instead of deadlocking.
 */
export function maskVector(env: ContextEnv, pos: number, timeoutMs = DEFAULT_MASK_TIMEOUT_MS): void {
  const was = beginMask(env, pos);
  if (!handlerRunning(env, pos)) return;
  const deadline = performance.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let ms = NAP_MIN_MS;
  while (handlerRunning(env, pos)) {
    const left = deadline - performance.now();
    if (left <= 0) throw abortMask(env, pos, was);
    Atomics.wait(nap, 0, 0, Math.min(ms, left));
    ms = nextNap(ms);
  }
}

/** What {@link maskVectorAsync} waits with (setTimeout on the main thread). */
export async function maskVectorAsync(env: ContextEnv, pos: number, timeoutMs: number): Promise<void> {
  const was = beginMask(env, pos);
  const deadline = performance.now() + timeoutMs;
  let ms = 1;
  while (handlerRunning(env, pos)) {
    const left = deadline - performance.now();
    if (left <= 0) throw abortMask(env, pos, was);
    await new Promise((r) => setTimeout(r, Math.min(ms, left)));
    ms = Math.min(ms * 2, 20);
  }
}

/**
 * Unmasks `pos` for the user: the device model re-signals a held interrupt, and the owner is kicked
 * so deliveries it held while masked (trigger counts read before the mask took effect) go out.
 */
export function unmaskVector(env: ContextEnv, pos: number): void {
  const { state, ops } = env;
  if (state.vget(pos, VI.USER_MASKED) === 0) return;
  state.vset(pos, VI.USER_MASKED, 0);
  // While NAPI polls the vector it stays masked in the model; the poll loop sees the flag.
  if (state.vget(pos, VI.POLLING) === 0) ops.unmask(pos);
  // INTx: a user mask is lazy (disable_irq's way): it never masks the line, it only keeps the owner
  // from running the handler and from unmasking after it. A delivery it held (INFLIGHT) is handled
  // by the owner, which then unmasks; with none held, a handler call that returned while masked left
  // the line automasked, so unmask it here.
  if (env.eoi !== undefined && state.vget(pos, VI.INFLIGHT) === 0) env.eoi();
  const owner = state.vget(pos, VI.OWNER);
  if (owner >= 0) env.kick(owner, pos);
}

/** The one context object per vector per thread. */
export class VectorContext implements HandlerContext {
  readonly vector: number;
  readonly index: number;
  readonly data: unknown;
  readonly workerId: number;
  /** Set by the caller before each call. */
  count = 0;

  constructor(
    private readonly env: ContextEnv,
    private readonly pos: number,
  ) {
    this.vector = env.vectors[pos];
    this.index = env.index;
    this.data = env.data;
    this.workerId = env.selfSlot;
  }

  get masked(): boolean {
    return this.env.state.vget(this.pos, VI.USER_MASKED) !== 0;
  }

  get mode(): 'interrupt' | 'poll' {
    return this.env.state.vget(this.pos, VI.MODE) === 0 ? 'interrupt' : 'poll';
  }

  mask(options?: MaskOptions): void {
    maskVector(this.env, this.pos, maskTimeout(options));
  }

  unmask(): void {
    unmaskVector(this.env, this.pos);
  }

  counters(): VectorCounters {
    return readCounters(this.env.state, this.env.ops, this.pos);
  }
}
