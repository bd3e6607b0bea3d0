/**
 * The loop a service worker runs: wait for any owned vector, drain everything ready per wake, run
 * the top half, queue deferred work, and (poll / hybrid modes) NAPI-poll busy vectors with their
 * interrupt masked.
 *
 * Accounting, the part crash recovery depends on: a trigger count read from a trigger is first
 * added to the vector's INFLIGHT word in shared memory, the handler runs, and only then is it
 * recorded as consumed in core's table and taken off INFLIGHT. Core keeps counting those raises as
 * pending until the record, so raised = delivered + coalesced + pending holds throughout, and if
 * the worker dies in between (a handler calling process.exit, an uncaught error) its replacement
 * finds INFLIGHT > 0 and delivers it again.
 */
import type { TriggerSet } from '@virq/bind';
import type { NapiHooks } from '@virq/handler/internal';
import {
  type ContextEnv,
  CUR,
  H,
  VC,
  VECTOR_SLOTS,
  VECTOR_WORDS,
  VectorContext,
  VI,
  WC,
  WI,
  WORKER_WORDS,
  WorkerState,
} from '@virq/handler/internal';

/** The user's top half: fast, returns true to ask for deferred work. */
export type TopHalf = (vector: number, ctx: VectorContext) => unknown;

/** Dispatcher mode numbers as stored in shared memory. */
export const MODE = { interrupt: 0, poll: 1, hybrid: 2 } as const;

/** A control message from the main thread. */
export type ControlMessage =
  | { op: 'acquire'; pos: number[]; recover: boolean; seq: number }
  | { op: 'release'; pos: number[]; seq: number };

/** Tuning of the loop (all have defaults in the Dispatcher). */
export interface LoopTuning {
  mode: 0 | 1 | 2;
  /** NAPI budget: handler calls per vector per poll cycle before it is unmasked again. */
  budget: number;
  /** Spin this long (µs) looking for work before sleeping. */
  spinMicros: number;
  /** Interrupt moderation: after a collect that found work, sleep this long (µs) before the next. */
  coalesceMicros: number;
  /** Consecutive empty polls that end a poll cycle (napi_complete). */
  idlePolls: number;
  /** NAPI deferral: after a poll round that found no work, wait this long (µs) before the next. */
  pollWaitMicros: number;
  /** Hybrid: switch a vector to poll mode at or above this rate (raises/s). */
  pollAbove: number;
  /** Hybrid: switch it back to interrupt mode below this rate (raises/s). */
  interruptBelow: number;
  /** Hybrid: rate measurement window (ms). */
  windowMs: number;
}

/** What the loop needs from the worker entry. */
export interface ServicerOptions {
  slot: number;
  env: ContextEnv;
  set: TriggerSet;
  /** Id the trigger set reports for a control kick (>= vector count). */
  controlId: number;
  handler: TopHalf | undefined;
  /** The module exports `thread` (deferred work). */
  hasThread: boolean;
  /** The module's driver NAPI hooks (module.ts): the device's own suppression instead of virq's mask. */
  napi?: NapiHooks;
  /** Rings the main thread's deferred-work doorbell with a position. */
  queueDeferred(pos: number): void;
  /** Takes pending control messages (receiveMessageOnPort). */
  takeControl(): ControlMessage[];
  /** Answers a control message. */
  reply(msg: { op: 'acquired' | 'released'; seq: number }): void;
  /** Reports a handler that threw. */
  reportError(pos: number, error: unknown, suppressed: number): void;
  tuning: LoopTuning;
}

/**
 * Interrupt moderation sleeps only after a collect that found fewer entries than this: the regime it
 * is for is the worker woken every 2–3 events (docs/decisions.md, interrupt moderation).
 */
const COALESCE_BELOW = 8;

/** Minimum spacing of 'error' reports for one vector; the rest are counted (handlerErrors). */
const REPORT_SPACING_MS = 100;

/** One service worker's loop state. */
export class Servicer {
  private readonly o: ServicerOptions;
  private readonly n: number;
  private readonly owned: Uint8Array;
  private readonly ownedList: number[] = [];
  private readonly ctx: (VectorContext | undefined)[];
  /** NAPI poll list, with each entry's remaining budget and empty-poll streak. */
  private readonly pollList: number[] = [];
  private readonly budgetLeft: Int32Array;
  private readonly emptyPolls: Int32Array;
  /** Core's raised counter per vector at the start of the current hybrid window. */
  private readonly lastRaised: Float64Array;
  private windowStart = performance.now();
  private readonly lastReport: Float64Array;
  /** Positions taken over with deliveries in flight, served at the top of the loop. */
  private readonly serveLater: number[] = [];
  private readonly suppressed: Int32Array;
  /** Work the driver's NAPI polls reported per vector (hybrid counts it toward the rate). */
  private readonly napiWork: Float64Array;
  /**
   * Driver hooks: 1 while the device's own interrupt may be off under a user mask (a poll cycle the
   * mask ended, or a vector acquired masked). No hook may turn it on while the mask holds (the
   * driver would poll for a masked vector); the user's unmask kicks this owner, and serve() does.
   */
  private readonly napiOff: Uint8Array;
  /** Set when a handler call returned to find its other vectors moved away (the watchdog). */
  private evicted = false;
  /** Deliveries (and driver-polled work) the last poll round found: 0 lets pollWaitMicros wait. */
  private roundWork = 0;

  constructor(options: ServicerOptions) {
    this.o = options;
    this.n = options.env.state.vectors;
    this.owned = new Uint8Array(this.n);
    this.ctx = new Array(this.n);
    this.budgetLeft = new Int32Array(this.n);
    this.emptyPolls = new Int32Array(this.n);
    this.lastRaised = new Float64Array(this.n);
    this.lastReport = new Float64Array(this.n).fill(Number.NEGATIVE_INFINITY);
    this.suppressed = new Int32Array(this.n);
    this.napiWork = new Float64Array(this.n);
    this.napiOff = new Uint8Array(this.n);
  }

  private context(pos: number): VectorContext {
    let c = this.ctx[pos];
    if (c === undefined) {
      c = new VectorContext(this.o.env, pos);
      this.ctx[pos] = c;
    }
    return c;
  }

  /** Runs until the dispatcher's STOP flag is set. */
  run(): void {
    const { set, slot, tuning } = this.o;
    const { state } = this.o.env;
    const header = state.header;
    state.wset(slot, WI.STATE, WorkerState.RUNNING);
    const kill = slot * WORKER_WORDS + WI.KILL;
    for (;;) {
      if (Atomics.load(header, H.STOP) !== 0) break;
      // The loop head holds nothing in this thread's memory (every count read is in INFLIGHT, every
      // call recorded): the one place besides a handler where a terminate() loses nothing.
      if (Atomics.load(state.wi, kill) !== 0) this.park();
      while (this.serveLater.length > 0) {
        const pos = this.serveLater.pop()!;
        // -1 - pos: driver hooks found work on acquire; poll it (it raised no interrupt).
        if (pos < 0) this.drainAfterUnmask(-1 - pos);
        else this.serve(pos);
      }
      if (tuning.mode === MODE.hybrid) this.evaluate(false);
      const n = set.collect(0);
      if (n > 0) {
        this.batch(n);
        this.moderate(n);
        continue;
      }
      if (this.pollList.length > 0) {
        this.pollRound();
        // NAPI deferral (pollWaitMicros): a round that found nothing waits for an interrupt, a
        // control request or the timeout before the next, with the polled vectors still masked.
        if (this.roundWork === 0 && tuning.pollWaitMicros > 0 && this.pollList.length > 0) {
          const m = set.collect(tuning.pollWaitMicros / 1000);
          if (m > 0) this.batch(m);
        }
        continue;
      }
      if (tuning.spinMicros > 0 && this.spin(tuning.spinMicros)) continue;
      // Sleep. Hybrid keeps a timeout while a vector sits in poll mode, so an idle vector's rate
      // decays and it goes back to interrupt mode without needing another raise.
      const timeout = tuning.mode === MODE.hybrid && this.anyPollMode() ? tuning.windowMs : -1;
      state.wcount(slot, WC.sleeps);
      state.wset(slot, WI.STATE, WorkerState.SLEEPING);
      const m = set.collect(timeout);
      state.wset(slot, WI.STATE, WorkerState.RUNNING);
      if (m > 0) {
        state.wcount(slot, WC.wakeups);
        this.batch(m);
        this.moderate(m);
      }
    }
    // Leave NAPI state clean: a stopped dispatcher's vectors are unmasked unless the user masked them.
    while (this.pollList.length > 0) this.complete(this.pollList[this.pollList.length - 1], true);
    state.wset(slot, WI.STATE, WorkerState.STOPPED);
  }

  /** Polls for work for up to `micros` µs; true if it found (and handled) some, or must stop. */
  private spin(micros: number): boolean {
    const { set, slot } = this.o;
    const { state } = this.o.env;
    state.wcount(slot, WC.spins);
    const until = performance.now() + micros / 1000;
    do {
      const n = set.collect(0);
      if (n > 0) {
        this.batch(n);
        return true;
      }
      if (Atomics.load(state.header, H.STOP) !== 0) return true;
    } while (performance.now() < until);
    return false;
  }

  /**
   * Interrupt moderation, as a NIC's interrupt throttle (ethtool's rx-usecs): after a collect that
   * found work but less than {@link COALESCE_BELOW} entries (it looked too early), sleep
   * `coalesceMicros` before looking again, so that the next look finds what arrived meanwhile as one
   * batch. A collect that found more is a batch already: sleeping after it only added cost (quiet,
   * 35–50 per collect: +10–14% CPU per event, docs/decisions.md). With kernel eventfds each look is an epoll_wait (~1 µs of syscall in a
   * paravirtual guest) that a stream of raises otherwise pays every 2–3 events; after a window it
   * finds tens. The first event after an idle spell is not delayed (the sleeping collect returns at
   * once), the ones behind it wait at most one window. Nothing is held here (every count the batch
   * read is recorded), so a terminate() during the sleep loses nothing, as at the loop head.
   * Skipped while vectors are on the NAPI poll list (polling is the batching there) or work is
   * queued. Sleeps on STOP, which stop() notifies; control messages wait out the window.
   */
  private moderate(found: number): void {
    const micros = this.o.tuning.coalesceMicros;
    if (micros === 0 || found >= COALESCE_BELOW || this.pollList.length > 0 || this.serveLater.length > 0)
      return;
    Atomics.wait(this.o.env.state.header, H.STOP, 0, micros / 1000);
  }

  private anyPollMode(): boolean {
    const { state } = this.o.env;
    for (const pos of this.ownedList) if (state.vget(pos, VI.MODE) !== 0) return true;
    return false;
  }

  private batch(n: number): void {
    const { set, slot, controlId } = this.o;
    const { state } = this.o.env;
    state.wcount(slot, WC.batches);
    const ids = set.ids;
    const counts = set.counts;
    const vi = state.vi;
    // First move every count this collect read out of its trigger into INFLIGHT, before any
    // handler runs: if a handler then kills this thread, the counts of the rest of the batch are
    // in shared memory for the replacement, not lost with this thread's locals.
    let control = false;
    for (let i = 0; i < n; i++) {
      const pos = ids[i];
      if (pos >= this.n) {
        if (pos === controlId) control = true;
      } else if (counts[i] > 0 && this.owned[pos] !== 0) {
        Atomics.add(vi, pos * VECTOR_WORDS + VI.INFLIGHT, counts[i]);
      }
    }
    for (let i = 0; i < n; i++) {
      const pos = ids[i];
      if (pos < this.n) this.serve(pos);
    }
    if (control) this.control();
  }

  /**
   * Delivers everything INFLIGHT holds for `pos` (trigger counts already moved there) unless the
   * user masked the vector; then, in poll mode, hands the vector to NAPI.
   */
  private serve(pos: number): void {
    const { state } = this.o.env;
    if (this.owned[pos] === 0) return;
    // The user's unmask kicks the owner with this position: hand the device's interrupt back now.
    if (this.napiOff[pos] !== 0 && state.vget(pos, VI.USER_MASKED) === 0) this.napiResume(pos);
    const vi = state.vi;
    const base = pos * VECTOR_WORDS;
    const held = Atomics.load(vi, base + VI.INFLIGHT);
    if (held === 0) return;
    this.call(pos, held);
    if (Atomics.load(vi, base + VI.MODE) !== 0 && Atomics.load(vi, base + VI.POLLING) === 0) {
      this.napiSchedule(pos);
    }
  }

  /** Runs the top half for `held` raises of `pos`; false if the user mask holds them back. */
  private call(pos: number, held: number): boolean {
    const { slot, handler } = this.o;
    const { state, ops, eoi } = this.o.env;
    const vi = state.vi;
    const base = pos * VECTOR_WORDS;
    const cur = slot * WORKER_WORDS + WI.CURRENT;
    // Publish CURRENT before reading USER_MASKED (see maskVector for the other half).
    Atomics.store(state.wi, cur, pos);
    if (Atomics.load(vi, base + VI.USER_MASKED) !== 0) {
      const was = Atomics.exchange(state.wi, cur, -1);
      if (was !== pos) this.flagged(pos, was);
      return false;
    }
    const ctx = this.context(pos);
    ctx.count = held;
    let wantThread = handler === undefined;
    if (handler !== undefined) {
      try {
        wantThread = handler(ctx.vector, ctx) === true;
      } catch (err) {
        // A throwing handler still consumed its delivery (it ran); the raise is accounted as
        // delivered, the failure as handlerErrors, and the vector keeps being serviced.
        state.vcount(pos, VC.handlerErrors);
        state.wcount(slot, WC.handlerErrors);
        this.report(pos, err);
      }
    }
    // CURRENT = pos without CUR.BOOK spans exactly the handler: what the watchdog times, and the only
    // moment (besides the loop head) the main thread may terminate this thread. This exchange takes
    // the flags it may have set meanwhile, before any bookkeeping; CURRENT keeps naming pos until the
    // bookkeeping is done, so a mask() waits for that too.
    const was = Atomics.exchange(state.wi, cur, pos | CUR.BOOK);
    if (was !== pos) this.flagged(pos, was);
    ops.consumed(pos, held);
    Atomics.sub(vi, base + VI.INFLIGHT, held);
    // INTx: the line was automasked when it fired; the handler has run (and acked the device, if it
    // does), so unmask it now through the unmask eventfd — unless the user masked the vector meanwhile
    // (then unmask() does it). With the level still asserted the device side re-sends the trigger
    // instead: the handler runs again, as for any level interrupt not yet acknowledged.
    if (eoi !== undefined && Atomics.load(vi, base + VI.USER_MASKED) === 0) eoi();
    Atomics.store(state.wi, cur, -1);
    state.vcount(pos, VC.handled);
    state.wcount(slot, WC.events);
    if (wantThread && this.o.hasThread) this.schedule(pos);
    return true;
  }

  private report(pos: number, err: unknown): void {
    const now = performance.now();
    if (now - this.lastReport[pos] < REPORT_SPACING_MS) {
      this.suppressed[pos]++;
      return;
    }
    this.lastReport[pos] = now;
    const suppressed = this.suppressed[pos];
    this.suppressed[pos] = 0;
    this.o.reportError(pos, err, suppressed);
  }

  /**
   * The main thread flagged the handler call of `pos` that just ended (see CUR.KILL / CUR.EVICT):
   * KILL parks before the call's bookkeeping (the delivery stays in INFLIGHT for the replacement);
   * EVICT drops every other vector, which the watchdog re-homed while this call was stuck.
   */
  private flagged(pos: number, was: number): void {
    if ((was & CUR.KILL) !== 0) this.park();
    if ((was & CUR.EVICT) === 0) return;
    const { state } = this.o.env;
    for (let i = this.ownedList.length - 1; i >= 0; i--) {
      const p = this.ownedList[i];
      if (p === pos) continue;
      // The new owner reconciled NAPI and INFLIGHT as after a crash: only forget the vector here.
      this.o.set.remove(p);
      this.owned[p] = 0;
      this.napiOff[p] = 0;
      this.ownedList[i] = this.ownedList[this.ownedList.length - 1];
      this.ownedList.pop();
      const at = this.pollList.indexOf(p);
      if (at >= 0) {
        this.pollList[at] = this.pollList[this.pollList.length - 1];
        this.pollList.pop();
      }
    }
    state.wset(this.o.slot, WI.OWNED, this.ownedList.length);
    this.evicted = true;
  }

  /** Waits to be terminated (the kill handshake, worker-slot.ts): does nothing more, ever. */
  private park(): never {
    const { state } = this.o.env;
    state.wset(this.o.slot, WI.KILL, 2);
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (;;) Atomics.wait(nap, 0, 0);
  }

  /** schedule_work: queue once, coalesce while queued. */
  private schedule(pos: number): void {
    const { state } = this.o.env;
    if (state.tryQueue(pos)) {
      state.vcount(pos, VC.deferredQueued);
      this.o.queueDeferred(pos);
    } else {
      state.vcount(pos, VC.deferredCoalesced);
    }
  }

  private napiSchedule(pos: number): void {
    const { state, ops } = this.o.env;
    if (state.vget(pos, VI.USER_MASKED) !== 0) return;
    state.vset(pos, VI.POLLING, 1);
    if (this.o.napi !== undefined) this.o.napi.mask(this.vectorOf(pos), this.context(pos));
    else ops.mask(pos);
    this.budgetLeft[pos] = this.o.tuning.budget;
    this.emptyPolls[pos] = 0;
    this.pollList.push(pos);
  }

  /** One NAPI round: poll every vector on the list once; {@link roundWork} counts what it found. */
  private pollRound(): void {
    const { slot, tuning } = this.o;
    const { state, ops } = this.o.env;
    const vi = state.vi;
    const list = this.pollList;
    this.roundWork = 0;
    for (let i = 0; i < list.length; i++) {
      const pos = list[i];
      const base = pos * VECTOR_WORDS;
      state.wcount(slot, WC.polls);
      state.vcount(pos, VC.polls);
      if (this.o.napi !== undefined) {
        // The driver polls its own queue; no interrupt is claimed, so nothing goes through the table.
        const done = this.o.napi.poll(this.vectorOf(pos), this.context(pos), this.budgetLeft[pos]);
        this.napiWork[pos] += done;
        this.roundWork += done;
        if (done > 0) this.emptyPolls[pos] = 0;
        else this.emptyPolls[pos]++;
        this.budgetLeft[pos] -= done;
      } else if (ops.poll(pos) > 0) {
        // Only the owner writes INFLIGHT while it owns the vector: the add's old value + 1 is the word.
        const held = Atomics.add(vi, base + VI.INFLIGHT, 1) + 1;
        this.emptyPolls[pos] = 0;
        this.roundWork++;
        this.call(pos, held);
        this.budgetLeft[pos]--;
        // The list lost every other entry while the call was stuck: start the round again.
        if (this.evicted) {
          this.evicted = false;
          return;
        }
      } else {
        this.emptyPolls[pos]++;
      }
      if (
        this.budgetLeft[pos] <= 0 ||
        this.emptyPolls[pos] >= tuning.idlePolls ||
        Atomics.load(vi, base + VI.MODE) === 0 ||
        Atomics.load(vi, base + VI.USER_MASKED) !== 0
      ) {
        if (this.complete(pos, false)) i--;
      }
    }
  }

  /**
   * napi_complete: off the poll list and unmasked (unless the user masked it). The unmask re-signals
   * anything raised meanwhile, so a vector still busy comes straight back as an interrupt. With driver
   * hooks, an unmask that finds work (it raised no interrupt) keeps the vector polling for another
   * cycle unless `force` (stop, release: the next owner looks again on acquire). Returns true if the
   * vector left the poll list.
   */
  private complete(pos: number, force: boolean): boolean {
    const { state, ops } = this.o.env;
    const list = this.pollList;
    const at = list.indexOf(pos);
    if (at < 0) return true;
    const napi = this.o.napi;
    if (napi !== undefined && state.vget(pos, VI.USER_MASKED) === 0) {
      const quiet = napi.unmask(this.vectorOf(pos), this.context(pos));
      if (!quiet && !force && state.vget(pos, VI.MODE) !== 0) {
        this.budgetLeft[pos] = this.o.tuning.budget;
        this.emptyPolls[pos] = 0;
        return false;
      }
      list[at] = list[list.length - 1];
      list.pop();
      state.vset(pos, VI.POLLING, 0);
      // Interrupt mode again with work left: the handler takes it now (no interrupt will come for it).
      if (!quiet && !force) this.drainAfterUnmask(pos);
      return true;
    }
    list[at] = list[list.length - 1];
    list.pop();
    // Driver hooks under a user mask: the device's interrupt stays off until the user unmasks. Every
    // unmask kicks the owner, so one racing this is seen by serve() on that kick, after this flag.
    if (napi !== undefined) this.napiOff[pos] = 1;
    state.vset(pos, VI.POLLING, 0);
    if (state.vget(pos, VI.USER_MASKED) === 0) {
      ops.unmask(pos);
      // A user mask that raced with our unmask must win: it set USER_MASKED before masking.
      if (state.vget(pos, VI.USER_MASKED) !== 0) ops.mask(pos);
    }
    return true;
  }

  /** The vector number at position `pos`. */
  private vectorOf(pos: number): number {
    return this.o.env.vectors[pos];
  }

  /** Driver hooks, after the user's unmask: the device's interrupt on, and any work it found taken. */
  private napiResume(pos: number): void {
    this.napiOff[pos] = 0;
    const napi = this.o.napi as NapiHooks;
    if (!napi.unmask(this.vectorOf(pos), this.context(pos))) this.drainAfterUnmask(pos);
  }

  /**
   * Driver hooks, back in interrupt mode with work the device did not interrupt for: poll until the
   * unmask finds the queue quiet (bounded; beyond the bound the vector goes back on the poll list).
   */
  private drainAfterUnmask(pos: number): void {
    if (this.owned[pos] === 0) return;
    const napi = this.o.napi as NapiHooks;
    const v = this.vectorOf(pos);
    const ctx = this.context(pos);
    for (let round = 0; round < 16; round++) {
      napi.mask(v, ctx);
      this.napiWork[pos] += napi.poll(v, ctx, this.o.tuning.budget);
      if (napi.unmask(v, ctx)) return;
    }
    this.napiSchedule(pos);
  }

  /**
   * Hybrid: per-vector rate over the last window, and the switches it implies. The rate is of
   * raises (core's counter), not deliveries: in poll mode many raises fold into one held interrupt,
   * and a delivery rate would make a busy vector look idle.
   */
  private evaluate(force: boolean): void {
    const now = performance.now();
    const dt = now - this.windowStart;
    const { tuning } = this.o;
    if (!force && dt < tuning.windowMs) return;
    this.windowStart = now;
    const { state, ops } = this.o.env;
    for (const pos of this.ownedList) {
      const raised = ops.raised(pos) + this.napiWork[pos];
      const rate = ((raised - this.lastRaised[pos]) * 1000) / dt;
      this.lastRaised[pos] = raised;
      state.vc[pos * VECTOR_SLOTS + VC.rate] = rate;
      const mode = state.vget(pos, VI.MODE);
      if (mode === 0 && rate >= tuning.pollAbove) {
        state.vset(pos, VI.MODE, 1);
        state.vcount(pos, VC.toPoll);
      } else if (mode === 1 && rate < tuning.interruptBelow) {
        state.vset(pos, VI.MODE, 0);
        state.vcount(pos, VC.toInterrupt);
        // pollRound completes it on its next pass (MODE is 0 now).
      }
    }
  }

  private control(): void {
    for (const msg of this.o.takeControl()) {
      if (msg.op === 'acquire') this.acquire(msg.pos, msg.recover);
      else this.release(msg.pos);
      this.o.reply({ op: msg.op === 'acquire' ? 'acquired' : 'released', seq: msg.seq });
    }
  }

  /**
   * Takes ownership of `positions` (the main thread already wrote OWNER). After a crash
   * (`recover`) the dead worker's leftovers are reconciled first: NAPI's mask is lifted, a queued
   * deferred request is re-sent (the main thread drops it if the run already started), and what it
   * held in flight is delivered again.
   */
  acquire(positions: readonly number[], recover: boolean): void {
    const { state, ops } = this.o.env;
    const { set, slot, tuning } = this.o;
    const took: number[] = [];
    for (const pos of positions) {
      // A request the watchdog overtook (it re-homed the vector elsewhere) is stale.
      if (this.owned[pos] !== 0 || state.vget(pos, VI.OWNER) !== slot) continue;
      this.owned[pos] = 1;
      this.ownedList.push(pos);
      this.lastRaised[pos] = ops.raised(pos) + this.napiWork[pos];
      if (tuning.mode === MODE.interrupt) state.vset(pos, VI.MODE, 0);
      else if (tuning.mode === MODE.poll) state.vset(pos, VI.MODE, 1);
      if (this.o.napi !== undefined) {
        // The last owner (crashed, or released it mid-cycle) may have left the device's interrupt off,
        // or work it raised no interrupt for: unmask, and poll it if there is work.
        state.vset(pos, VI.POLLING, 0);
        if (state.vget(pos, VI.USER_MASKED) !== 0) {
          // Masked: the last owner may have left the interrupt off; the unmask's kick turns it on.
          this.napiOff[pos] = 1;
        } else if (!this.o.napi.unmask(this.vectorOf(pos), this.context(pos))) {
          this.serveLater.push(-1 - pos);
        }
      } else if (state.vget(pos, VI.POLLING) !== 0) {
        state.vset(pos, VI.POLLING, 0);
        if (state.vget(pos, VI.USER_MASKED) === 0) ops.unmask(pos);
      }
      if (recover && state.vget(pos, VI.QUEUED) !== 0) this.o.queueDeferred(pos);
      // INTx after a crash with nothing in flight: the dead worker may have died between its
      // handler's end and its unmask, leaving the line automasked. An unmask of a line that is not
      // masked does nothing, so unmask to be sure (what is in flight unmasks once delivered).
      if (
        recover &&
        this.o.env.eoi !== undefined &&
        state.vget(pos, VI.INFLIGHT) === 0 &&
        state.vget(pos, VI.USER_MASKED) === 0
      ) {
        this.o.env.eoi();
      }
      set.add(pos);
      took.push(pos);
    }
    state.wset(slot, WI.OWNED, this.ownedList.length);
    // What the trigger holds is reported by the next collect; what a previous owner held in flight
    // (read from the trigger, not yet recorded) is delivered by the loop, after the worker has
    // reported ready: a handler that dies again on it is then a crash of a running worker.
    for (const pos of took) {
      if (state.vget(pos, VI.INFLIGHT) === 0) continue;
      if (recover) state.vcount(pos, VC.redelivered);
      this.serveLater.push(pos);
    }
  }

  /** Gives up `positions`: finishes their poll cycle and stops waiting on their triggers. */
  release(positions: readonly number[]): void {
    const { state } = this.o.env;
    const { set, slot } = this.o;
    for (const pos of positions) {
      if (this.owned[pos] === 0) continue;
      this.complete(pos, true);
      set.remove(pos);
      this.owned[pos] = 0;
      // the next owner's acquire decides about the device's interrupt
      this.napiOff[pos] = 0;
      const at = this.ownedList.indexOf(pos);
      this.ownedList[at] = this.ownedList[this.ownedList.length - 1];
      this.ownedList.pop();
    }
    state.wset(slot, WI.OWNED, this.ownedList.length);
  }
}
