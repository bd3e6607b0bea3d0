/**
 * The watchdog, the dispatcher's lockup detector: a handler that never returns would otherwise silence
 * every vector its worker owns. No store of its own on the hot path: an unref'd timer samples every
 * stallMs / 4 what the workers publish anyway — CURRENT (the position whose handler runs; CUR.BOOK once
 * it returned) and the `events` counter (calls completed) — and a vector's ACTIVE word with its
 * `deferredRuns` for deferred runs. The same call seen across samples spanning stallMs is a stall.
 *
 * A stall (README "Watchdog", docs/decisions.md): the 'stall' event, once per stuck call; the stuck
 * worker keeps the stuck vector (a second owner would run its handler beside the stuck call) and its
 * other vectors are re-homed at once as after a crash — it cannot answer a rebalance's release: the
 * call is flagged (CUR.EVICT by compareExchange, which fails if it has just returned), OWNERs written,
 * healthy workers acquire with `recover`. onStall 'restart' also terminates and replaces the worker
 * (WorkerSlot.terminate: inside a handler it holds nothing of its own), or aborts a stuck deferred
 * run (piscina terminates that pool thread, the only way to stop a running synchronous task).
 */

import { CUR, type DispatchState, VC, VI, WC, WI, WORKER_WORDS } from '@virq/handler/internal';
import type { DeferredWork } from './deferred.js';
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
      // Bookkeeping after the handler returned (CUR.BOOK) is the worker's own, and short.
      const cur = state.wget(w, WI.CURRENT);
      if (slot.worker === undefined || cur < 0 || (cur & CUR.BOOK) !== 0) {
        this.wPos[w] = -1;
        continue;
      }
      const pos = cur & CUR.POS;
      const events = state.wcounter(w, WC.events);
      const inc = state.wget(w, WI.INCARNATION);
      const moved = pos !== this.wPos[w] || events !== this.wEvents[w] || inc !== this.wInc[w];
      if (moved) {
        this.wPos[w] = pos;
        this.wEvents[w] = events;
        this.wInc[w] = inc;
      }
      const ms = stalledFor(this.wSince, this.wDone, w, moved, now, stallMs);
      if (ms >= 0) this.handlerStall(slot, pos, ms);
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
      const moved = Number.isNaN(this.tSince[pos]) || runs !== this.tRuns[pos];
      if (moved) this.tRuns[pos] = runs;
      const ms = stalledFor(this.tSince, this.tDone, pos, moved, now, stallMs);
      if (ms >= 0) {
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
    if (c < 0 || (c & CUR.POS) !== pos || (c & CUR.BOOK) !== 0) return false;
    if ((c & CUR.EVICT) === 0 && Atomics.compareExchange(wi, at, c, c | CUR.EVICT) !== c) return false;
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

/**
 * The stall clock of watched item `i` (a worker, or a vector's deferred run): restarted when it
 * `moved` since the last sample; once it has stood still for `stallMs`, the time it has, that once
 * (-1 on every other sample, until it moves again).
 */
function stalledFor(
  since: Float64Array,
  done: Uint8Array,
  i: number,
  moved: boolean,
  now: number,
  stallMs: number,
): number {
  if (moved) {
    since[i] = now;
    done[i] = 0;
    return -1;
  }
  const ms = now - since[i];
  if (done[i] !== 0 || ms < stallMs) return -1;
  done[i] = 1;
  return ms;
}
