/**
 * The `ctx` handed to a vector's `handler` and `thread`: which vector, how many raises this delivery
 * carries, the user's data, masking of this vector, and its counters.
 */
import { type DispatchState, VC, VI, WI } from './layout.js';
import type { VectorOps } from './ports.js';

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
  ops: VectorOps;
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
   * From another thread it also waits for a running handler of this vector to return (disable_irq).
   */
  mask(): void;
  /** Unmasks this vector; whatever was held is delivered. */
  unmask(): void;
  /** This vector's counters. */
  counters(): VectorCounters;
}

/** Reads a vector's counters (shared by ctx.counters() and Dispatcher.stats()). */
export function readCounters(state: DispatchState, ops: VectorOps, pos: number): VectorCounters {
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

/**
 * Masks `pos` for the user. From a thread other than the owner, waits until no handler of `pos` runs: the owner publishes
 * CURRENT before it reads USER_MASKED, and we publish USER_MASKED before we read CURRENT, so
 * (sequentially consistent Atomics) either the owner sees the mask and holds the delivery, or we
 * see it running and wait for it.
 */
export function maskVector(env: ContextEnv, pos: number): void {
  const { state, ops } = env;
  state.vset(pos, VI.USER_MASKED, 1);
  // Masking a masked vector is a no-op in the model; if the poll loop unmasks it concurrently, it
  // re-reads USER_MASKED after its unmask and masks again (see servicer.ts, complete()).
  ops.mask(pos);
  const owner = state.vget(pos, VI.OWNER);
  if (owner >= 0 && owner !== env.selfSlot) {
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (state.wget(owner, WI.CURRENT) === pos && state.vget(pos, VI.OWNER) === owner) {
      Atomics.wait(nap, 0, 0, 0.02);
    }
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

  mask(): void {
    maskVector(this.env, this.pos);
  }

  unmask(): void {
    unmaskVector(this.env, this.pos);
  }

  counters(): VectorCounters {
    return readCounters(this.env.state, this.env.ops, this.pos);
  }
}
