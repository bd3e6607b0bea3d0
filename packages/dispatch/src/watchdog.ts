/**
 * The watchdog: the dispatcher's lockup detector. A handler that never returns (an infinite loop, a
 * blocking call, a deadlock) would otherwise silence every vector its worker owns until stop().
 *
 * It costs the hot path nothing of its own: what a service worker publishes anyway is enough. CURRENT
 * (WI) is the position whose handler runs (CUR_BOOK added once it returned, for its bookkeeping), and
 * the worker's `events` counter (WC) rises with every call completed. A timer on the main thread (unref'd, every stallMs / 4)
 * samples both; the same position with no call completed across samples spanning stallMs is a stall.
 * Deferred runs likewise: a vector's ACTIVE word (VI) set by its run on the pool, with `deferredRuns`
 * (counted by the main thread as each run ends) unchanged.
 *
 * What a stall does (docs/decisions.md, "Watchdog"):
 * - 'stall' { vector, worker, ms, kind } is emitted once per stuck call or run (`ms`: how long it has
 *   been stuck at least);
 * - a stuck handler's worker keeps the stuck vector (its delivery is in the middle of a handler call:
 *   nobody else may run that vector's handler meanwhile) and loses every other one at once. It cannot
 *   take part in the release/acquire of a rebalance, so its vectors are re-homed as after a crash: the
 *   watchdog flags the stuck call (CUR_EVICT with compareExchange: it fails if the call has just
 *   returned), writes the new OWNERs, and healthy workers acquire them with `recover` (what the stuck
 *   worker held in flight is delivered again, its NAPI mask lifted, a queued deferred request re-sent).
 *   Should the handler return after all, the worker takes the flag as the call ends and forgets those
 *   vectors before touching anything else;
 * - onStall 'restart' also terminates the stuck worker (safely: inside a handler it holds nothing of
 *   its own, see WorkerSlot.terminate) and replaces it; the replacement delivers the stuck vector's
 *   delivery again (counted `redelivered`). A deferred run is aborted: piscina terminates the pool
 *   thread running it (a running synchronous task cannot be cancelled any other way) and starts a
 *   new one; the run counts as failed (deferredErrors) and is queued again.
 */
import type { DeferredWork } from './deferred.js';
import { CUR_BOOK, CUR_EVICT, CUR_POS, type DispatchState, VC, VI, WC, WI, WORKER_WORDS } from './layout.js';
import type { WorkerSlot } from './worker-slot.js';

/** The payload of the Dispatcher's 'stall' event. */
export interface StallEvent {
  /** The vector whose handler (or deferred run) is stuck. */
  vector: number;
  /** The service worker running the handler; -1 for a deferred run (a piscina thread). */
  worker: number;
  /** How long it has been running without returning, at least (ms). */
  ms: number;
  /** 'handler': the top half on a service worker; 'thread': deferred work on the pool. */
  kind: 'handler' | 'thread';
}

/** What a stall does beyond the event; see {@link DispatcherOptions.onStall}. */
export type StallAction = 'report' | 'restart';

/** How long a watchdog restart waits for the stuck worker to be terminated safely (ms). */
const KILL_GRACE_MS = 1000;

/** What the watchdog needs from its dispatcher. */
export interface WatchdogHost {
  readonly state: DispatchState;
  /** Vector numbers by position. */
  readonly vectors: readonly number[];
  readonly slots: readonly WorkerSlot[];
  readonly stallMs: number;
  readonly onStall: StallAction;
  deferred(): DeferredWork | undefined;
  /** Emits the 'stall' event. */
  stall(e: StallEvent): void;
  /** A fresh control-request sequence number. */
  seq(): number;
}

/** Samples the workers' progress on a timer and acts on a stall. */
export class Watchdog {
  private readonly timer: NodeJS.Timeout;
  /** Per worker: the position, events and incarnation last seen, since when, and whether reported. */
  private readonly wPos: Int32Array;
  private readonly wEvents: Float64Array;
  private readonly wInc: Int32Array;
  private readonly wSince: Float64Array;
  private readonly wDone: Uint8Array;
  /** Per vector, for deferred runs: deferredRuns when the run was first seen, since when, reported. */
  private readonly tRuns: Float64Array;
  private readonly tSince: Float64Array;
  private readonly tDone: Uint8Array;

  constructor(private readonly host: WatchdogHost) {
    const w = host.slots.length;
    const n = host.vectors.length;
    this.wPos = new Int32Array(w).fill(-1);
    this.wEvents = new Float64Array(w);
    this.wInc = new Int32Array(w);
    this.wSince = new Float64Array(w);
    this.wDone = new Uint8Array(w);
    this.tRuns = new Float64Array(n);
    this.tSince = new Float64Array(n).fill(Number.NaN);
    this.tDone = new Uint8Array(n);
    // A quarter of stallMs: a stall is seen between stallMs and 1.25 stallMs after it began.
    const every = Math.max(5, Math.min(1000, host.stallMs / 4));
    this.timer = setInterval(() => this.tick(), every);
    // The watchdog alone must not keep a process alive.
    this.timer.unref();
  }

  /** Stops sampling. */
  close(): void {
    clearInterval(this.timer);
  }

  /** One sample of every worker and every deferred run. */
  tick(): void {
    const now = performance.now();
    const { state, slots, stallMs } = this.host;
    for (let w = 0; w < slots.length; w++) {
      const slot = slots[w];
      // Bookkeeping after the handler returned (CUR_BOOK) is the worker's own, and short.
      const cur = state.wget(w, WI.CURRENT);
      if (slot.worker === undefined || cur < 0 || (cur & CUR_BOOK) !== 0) {
        this.wPos[w] = -1;
        continue;
      }
      const pos = cur & CUR_POS;
      const events = state.wcounter(w, WC.events);
      const inc = state.wget(w, WI.INCARNATION);
      if (pos !== this.wPos[w] || events !== this.wEvents[w] || inc !== this.wInc[w]) {
        this.wPos[w] = pos;
        this.wEvents[w] = events;
        this.wInc[w] = inc;
        this.wSince[w] = now;
        this.wDone[w] = 0;
        continue;
      }
      const ms = now - this.wSince[w];
      if (this.wDone[w] === 0 && ms >= stallMs) {
        this.wDone[w] = 1;
        this.handlerStall(slot, pos, ms);
      }
    }
    this.threads(now);
  }

  private threads(now: number): void {
    const { state, vectors, stallMs } = this.host;
    const deferred = this.host.deferred();
    if (deferred === undefined) return;
    for (let pos = 0; pos < vectors.length; pos++) {
      if (state.vget(pos, VI.ACTIVE) === 0) {
        this.tSince[pos] = Number.NaN;
        continue;
      }
      // The next run of a vector starts only after the main thread counted the last one's end.
      const runs = state.vcounter(pos, VC.deferredRuns);
      if (Number.isNaN(this.tSince[pos]) || runs !== this.tRuns[pos]) {
        this.tRuns[pos] = runs;
        this.tSince[pos] = now;
        this.tDone[pos] = 0;
        continue;
      }
      const ms = now - this.tSince[pos];
      if (this.tDone[pos] === 0 && ms >= stallMs) {
        this.tDone[pos] = 1;
        this.host.stall({ vector: vectors[pos], worker: -1, ms: Math.round(ms), kind: 'thread' });
        if (this.host.onStall === 'restart') deferred.abortRun(pos);
      }
    }
  }

  private handlerStall(slot: WorkerSlot, pos: number, ms: number): void {
    if (!this.evict(slot, pos)) return; // it returned just now: not stuck after all
    this.host.stall({ vector: this.host.vectors[pos], worker: slot.id, ms: Math.round(ms), kind: 'handler' });
    if (this.host.onStall === 'restart') {
      // terminate() never rejects for a worker that is there; a replacement follows from its exit.
      void slot.terminate(KILL_GRACE_MS, true);
    }
  }

  /**
   * Re-homes every vector of `slot` but the stuck `pos` onto healthy workers, as after a crash.
   * False if the call of `pos` is not running any more (the flag could not be set).
   */
  private evict(slot: WorkerSlot, pos: number): boolean {
    const { state, slots } = this.host;
    const wi = state.wi;
    const at = slot.id * WORKER_WORDS + WI.CURRENT;
    const c = Atomics.load(wi, at);
    if (c < 0 || (c & CUR_POS) !== pos || (c & CUR_BOOK) !== 0) return false;
    if ((c & CUR_EVICT) === 0 && Atomics.compareExchange(wi, at, c, c | CUR_EVICT) !== c) return false;
    slot.stalled = pos;
    // Requests it will never answer (a rebalance waiting on it goes on; see doRebalance).
    slot.abandonRequests();
    const healthy = slots.filter((s) => s !== slot && s.worker !== undefined && !s.isStalled());
    if (healthy.length === 0) return true;
    const to = new Map<WorkerSlot, number[]>();
    let k = 0;
    for (let p = 0; p < state.vectors; p++) {
      if (p === pos || state.vget(p, VI.OWNER) !== slot.id) continue;
      const target = healthy[k++ % healthy.length];
      state.vset(p, VI.OWNER, target.id);
      const list = to.get(target);
      if (list === undefined) to.set(target, [p]);
      else list.push(p);
    }
    for (const [target, list] of to) {
      void target.request({ op: 'acquire', pos: list, recover: true, seq: this.host.seq() });
    }
    return true;
  }
}
