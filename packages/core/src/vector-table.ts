/**
 * The vector table, any thread's side: every piece of per-vector state — enabled, masked, held-pending (the PBA bit),
 * which trigger is bound, and the accounting counters — in one SharedArrayBuffer. The device (the
 * owner, on the thread that calls setIrqs) writes configuration (vector-owner.ts); any thread that attached the table
 * (`VectorTable.attach(handle)`) reads state and counters, records consumption, masks and unmasks
 * vectors, and signals triggers. Hot-path transitions are lock-free (CAS on a state word).
 *
 * Accounting, per vector (u64 counters; exact up to 2^53 when read as numbers):
 *   raised     interrupts the vector accepted: signalled to its trigger, or held by its mask.
 *   delivered  consumptions: each consumer read of the trigger that returned n >= 1 counts 1 ...
 *   coalesced  ... and n - 1 here (n raises folded into one read); a raise that finds the vector
 *              masked with its PBA bit already set is coalesced at once (stored as one "folded"
 *              count, C_FOLDED, that every read adds to both raised and coalesced).
 *   pending    raised, not yet consumed: held by the mask (at most 1, the PBA bit) plus signalled to
 *              the trigger and not yet read.
 *   dropped    held interrupts thrown away unsignalled: the vector was torn down/disabled/reset while
 *              its PBA bit was set, or an INTx line was deasserted while masked (a level interrupt
 *              that is withdrawn before it is unmasked never fires — the kernel's behaviour).
 *   unrouted   raises that went nowhere: the index/vector was not enabled or had no trigger. The kernel
 *              drops those too; they are not part of `raised`.
 *   external   signals the table did not see raised — the kernel's own (VfioDevice) or a foreign write
 *              to the eventfd — first seen when consumed; counted into `raised` at that moment.
 * Invariant at every quiescent moment: raised = delivered + coalesced + pending + dropped.
 * While raises are in flight, pending may be momentarily over-stated (a raise counts itself before it
 * signals, so a consumer can never see a signal that is not yet counted), never under-stated.
 */

import type { EventFdPool, EventFdPoolHandle, TriggerDesc } from '@virq/trigger/internal';
import { argValueError, outOfRange, takeDesc } from '@virq/trigger/internal';
import { TriggerSlots } from './trigger-slot.js';
import { IRQ_INDEX_NAMES, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_NUM_IRQS } from './uapi.js';
import {
  C_FOLDED,
  Counter,
  counterOf,
  createTableBuffer,
  H_BASE,
  H_COUNT,
  H_GENERATION,
  H_IRQ_TYPE,
  H_TOTAL,
  isTableBuffer,
  R_STATE,
  type RaiseOutcome,
  ST_ENABLED,
  ST_EXTERNAL,
  ST_LEVEL,
  ST_MASKED,
  ST_PENDING,
  ST_TRIGGER,
  type VectorCounters,
  type VectorState,
  type VectorTableHandle,
  type VectorTableLayout,
  wordOf,
} from './vector-layout.js';

/**
 * Per-vector state and counters in shared memory. The owner creates it (`VectorTable.create`), other
 * threads attach (`VectorTable.attach(handle)`) and see the same state.
 */
export class VectorTable {
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  /** @internal the table's words (vector-owner.ts writes configuration through them) */
  readonly i32: Int32Array;
  /** @internal the table's counters */
  readonly u64: BigUint64Array;
  /** @internal this thread's view of the trigger slots */
  readonly slots: TriggerSlots;
  private readonly counts: number[] = [];
  private readonly bases: number[] = [];

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.u64 = new BigUint64Array(buffer);
    if (!isTableBuffer(this.i32)) {
      throw argValueError('VectorTable: buffer does not hold a virq vector table');
    }
    for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
      this.counts.push(this.i32[H_COUNT + i]);
      this.bases.push(this.i32[H_BASE + i]);
    }
    this.slots = new TriggerSlots(this.i32, this.i32[H_TOTAL]);
  }

  /** Creates a table with room for the given number of vectors per index. */
  static create(layout: VectorTableLayout): VectorTable {
    return new VectorTable(createTableBuffer(layout));
  }

  /** Attaches to a table from its handle (any thread) and registers its eventfd pools in this thread. */
  static attach(handle: VectorTableHandle): VectorTable {
    const t = new VectorTable(handle.buffer);
    for (const p of handle.pools ?? []) t.registerPool(p);
    return t;
  }

  /** Structured-cloneable handle, listing every pool a bound shared trigger lives in. */
  get handle(): VectorTableHandle {
    return { buffer: this.buffer, pools: [...this.slots.pools].map((p) => p.handle) };
  }

  /**
   * Makes an eventfd pool known to this thread's table object, so triggers in it can be signalled here.
   * Needed only for pools that appeared after this thread attached.
   */
  registerPool(handle: EventFdPoolHandle | EventFdPool): EventFdPool {
    return this.slots.registerPool(handle);
  }

  /**
   * Forgets an eventfd pool in this thread's table object: its {@link handle} no longer lists it.
   * Refused (false) while any vector's trigger still lives in it; true if it was forgotten, or was
   * never known. With {@link EventFdPool.unregister}, what a pool's owner does when it is done with
   * the pool, so that nothing keeps naming its buffer.
   */
  unregisterPool(pool: EventFdPoolHandle | EventFdPool): boolean {
    return this.slots.unregisterPool(pool);
  }

  /** Number of vectors the table holds for `index` (0 for an unknown index). */
  vectors(index: number): number {
    return this.counts[index] ?? 0;
  }

  /** The enabled IRQ type as the owner last published it (VFIO_PCI_NUM_IRQS = none). */
  get irqType(): number {
    return Atomics.load(this.i32, H_IRQ_TYPE);
  }

  /** Bumped by the owner on every configuration change (enable, disable, trigger change). */
  get generation(): number {
    return Atomics.load(this.i32, H_GENERATION);
  }

  /** @internal record number of (index, vector); RangeError if there is no such vector */
  rec(index: number, vector: number): number {
    const n = this.counts[index];
    if (n === undefined || !Number.isInteger(vector) || vector < 0 || vector >= n) {
      throw outOfRange(
        `VectorTable: ${IRQ_INDEX_NAMES[index] ?? `index ${index}`} has no vector ${vector} (has ${n ?? 0})`,
      );
    }
    return this.bases[index] + vector;
  }

  // ---- reads (any thread) ---------------------------------------------------------------------

  /** Raw state bits of a vector (ST_*). */
  stateBits(index: number, vector: number): number {
    return Atomics.load(this.i32, wordOf(this.rec(index, vector), R_STATE));
  }

  /** Decoded state of a vector. */
  state(index: number, vector: number): VectorState {
    const s = this.stateBits(index, vector);
    return {
      enabled: (s & ST_ENABLED) !== 0,
      triggered: (s & ST_TRIGGER) !== 0,
      masked: (s & ST_MASKED) !== 0,
      pendingBit: (s & ST_PENDING) !== 0,
      level: (s & ST_LEVEL) !== 0,
      external: (s & ST_EXTERNAL) !== 0,
    };
  }

  /** A vector's counters. */
  counters(index: number, vector: number): VectorCounters {
    const r = this.rec(index, vector);
    const get = (k: Counter | typeof C_FOLDED) => Number(Atomics.load(this.u64, counterOf(r, k)));
    // Read once for both: raised and coalesced then move together with it.
    const folded = get(C_FOLDED);
    return {
      raised: get(Counter.Raised) + folded,
      delivered: get(Counter.Delivered),
      coalesced: get(Counter.Coalesced) + folded,
      pending: get(Counter.Pending),
      dropped: get(Counter.Dropped),
      unrouted: get(Counter.Unrouted),
      external: get(Counter.External),
    };
  }

  /** One counter, as a bigint (exact). */
  counter(index: number, vector: number, which: Counter): bigint {
    const r = this.rec(index, vector);
    const c = Atomics.load(this.u64, counterOf(r, which));
    if (which !== Counter.Raised && which !== Counter.Coalesced) return c;
    return c + Atomics.load(this.u64, counterOf(r, C_FOLDED));
  }

  /** Where the vector's trigger is (a SharedEventFd slot or a kernel fd), or null. */
  trigger(index: number, vector: number): TriggerDesc | null {
    return this.slots.read(this.rec(index, vector));
  }

  // ---- hot path (any thread) ------------------------------------------------------------------

  /**
   * Signals the vector's trigger (eventfd_signal) if one is bound; false if none. Safe against a
   * concurrent unbind: the owner waits for in-flight signallers before it releases the old eventfd
   * (the synchronize_irq() of vfio_intx_set_signal / free_irq).
   */
  signalTrigger(index: number, vector: number): boolean {
    return this.slots.signal(this.rec(index, vector));
  }

  /**
   * A device interrupt on an edge-triggered vector (MSI, MSI-X, ERR, REQ): vfio_msihandler's
   * eventfd_signal, plus the per-vector mask extension. Returns what became of it.
   */
  raise(index: number, vector: number): RaiseOutcome {
    const r = this.rec(index, vector);
    const s = Atomics.load(this.i32, wordOf(r, R_STATE));
    // Masked with an interrupt already held: the raise folds into it (see foldable).
    if ((s & FOLDABLE) === FOLDABLE) return this.fold(r);
    // Count before signalling: a consumer must never read a signal that is not yet counted as
    // pending. The state loaded before the count may be stale by now; that is a raise that happened
    // just before the change (a mask, a teardown), which the paths below handle as such.
    const u64 = this.u64;
    Atomics.add(u64, counterOf(r, Counter.Raised), 1n);
    Atomics.add(u64, counterOf(r, Counter.Pending), 1n);
    if ((s & (ST_ENABLED | ST_TRIGGER | ST_MASKED)) === (ST_ENABLED | ST_TRIGGER)) {
      return this.slots.signal(r) ? 'signalled' : this.unroute(r);
    }
    return this.raiseSlow(r, s, -1);
  }

  /**
   * A raise that found record `r` enabled, bound, masked and holding an interrupt (the PBA bit): it is
   * coalesced into the held one and signals nothing, so it is counted after the state was read and in
   * one add (C_FOLDED, read as raised + coalesced). Nothing orders that add against a consumer: no
   * signal comes of it, and pending is untouched. The bit may be taken (NAPI's takeHeld, an unmask,
   * a teardown's drop) between the load and the add; the raise happened before that take, when the
   * bit was set, and coalesced into the interrupt the take got.
   */
  private fold(r: number): RaiseOutcome {
    Atomics.add(this.u64, counterOf(r, C_FOLDED), 1n);
    return 'coalesced';
  }

  /**
   * Raises many vectors of one index at once (a device raising several queues, a storm): the same as
   * `raise` for each, in order, with one in-flight section and one generation load for the whole
   * batch instead of one per vector. `vectors` holds vector numbers; the first `count` are raised.
   * Returns how many were accepted (signalled, held or coalesced); the rest were unrouted. A bad
   * vector number throws RangeError before anything is raised.
   */
  raiseMany(index: number, vectors: ArrayLike<number>, count: number = vectors.length): number {
    if (!Number.isInteger(count) || count < 0 || count > vectors.length) {
      throw new RangeError(`VectorTable.raiseMany: count ${count} outside [0, ${vectors.length}]`);
    }
    for (let i = 0; i < count; i++) this.rec(index, vectors[i]);
    const base = this.bases[index];
    const u64 = this.u64;
    const i32 = this.i32;
    const slots = this.slots;
    let accepted = 0;
    const g = slots.beginBatch();
    try {
      for (let i = 0; i < count; i++) {
        const r = base + vectors[i];
        const s = Atomics.load(i32, wordOf(r, R_STATE));
        if ((s & FOLDABLE) === FOLDABLE) {
          // as raise(): folded into the held interrupt, one add
          Atomics.add(u64, counterOf(r, C_FOLDED), 1n);
          accepted++;
          continue;
        }
        Atomics.add(u64, counterOf(r, Counter.Raised), 1n);
        Atomics.add(u64, counterOf(r, Counter.Pending), 1n);
        let outcome: RaiseOutcome;
        if ((s & (ST_ENABLED | ST_TRIGGER | ST_MASKED)) === (ST_ENABLED | ST_TRIGGER)) {
          outcome = slots.signalAt(r, g) ? 'signalled' : this.unroute(r);
        } else {
          outcome = this.raiseSlow(r, s, g);
        }
        if (outcome !== 'unrouted') accepted++;
      }
    } finally {
      slots.endBatch();
    }
    return accepted;
  }

  /**
   * The rest of a raise (already counted) that found record `r` not plainly routable in state `s`:
   * unrouted, or masked (held in the PBA bit, or coalesced into the one already held). `g` >= 0: a
   * batch's generation (signal inside its section); -1: a single raise.
   */
  private raiseSlow(r: number, s: number, g: number): RaiseOutcome {
    const sw = wordOf(r, R_STATE);
    for (;;) {
      if ((s & (ST_ENABLED | ST_TRIGGER)) !== (ST_ENABLED | ST_TRIGGER)) return this.unroute(r);
      if (s & ST_MASKED) {
        if (s & ST_PENDING) {
          this.add(r, Counter.Pending, -1n);
          this.add(r, Counter.Coalesced, 1n);
          return 'coalesced';
        }
        if (Atomics.compareExchange(this.i32, sw, s, s | ST_PENDING) === s) return 'held';
      } else {
        const ok = g < 0 ? this.slots.signal(r) : this.slots.signalAt(r, g);
        return ok ? 'signalled' : this.unroute(r);
      }
      s = Atomics.load(this.i32, sw);
    }
  }

  private unroute(r: number): RaiseOutcome {
    // lost a race with a teardown after counting: take the raise back and call it unrouted
    this.add(r, Counter.Raised, -1n);
    this.add(r, Counter.Pending, -1n);
    this.add(r, Counter.Unrouted, 1n);
    return 'unrouted';
  }

  /**
   * Masks a vector (lock-free). Later raises are held in the PBA bit. Returns false if it was already
   * masked.
   */
  mask(index: number, vector: number): boolean {
    noIntx(index, 'mask');
    const sw = wordOf(this.rec(index, vector), R_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, sw);
      if (s & ST_MASKED) return false;
      if (Atomics.compareExchange(this.i32, sw, s, s | ST_MASKED) === s) return true;
    }
  }

  /**
   * Unmasks a vector (lock-free, any thread). If an interrupt was held, it is signalled now, exactly
   * once: the CAS that clears MASKED also clears PENDING, so of two racing unmaskers only one sees it.
   * Returns 'signalled' if a held interrupt went out, 'unmasked' if none was held, 'noop' if the vector
   * was not masked.
   */
  unmask(index: number, vector: number): 'signalled' | 'unmasked' | 'noop' {
    noIntx(index, 'unmask');
    const r = this.rec(index, vector);
    const sw = wordOf(r, R_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, sw);
      if (!(s & ST_MASKED)) return 'noop';
      if (Atomics.compareExchange(this.i32, sw, s, s & ~(ST_MASKED | ST_PENDING)) !== s) continue;
      if (!(s & ST_PENDING)) return 'unmasked';
      // the held interrupt was counted as pending when it was raised; now it moves to the trigger
      if (this.slots.signal(r)) return 'signalled';
      this.dropHeld(r);
      return 'unmasked';
    }
  }

  /**
   * Takes the interrupt a masked vector holds (its PBA bit) without unmasking it and without
   * signalling the trigger: the poll of a vector kept masked (NAPI). True if one was held. Lock-free,
   * any thread; of two racing takers (or a taker racing an unmasker) exactly one gets it. A raise
   * racing with the take either coalesced into the bit before it (counted coalesced) or sets the bit
   * again after (held, found by the next take).
   *
   * The taken interrupt stays counted in `pending`, as a signal in the trigger would: once the caller
   * has handled it, it records the consumption with `recordConsumed(index, vector, 1)`.
   */
  takeHeld(index: number, vector: number): boolean {
    noIntx(index, 'takeHeld');
    const sw = wordOf(this.rec(index, vector), R_STATE);
    // The first compare-exchange expects the state a polled vector has when it holds an interrupt
    // (enabled, bound, masked, PBA set): one atomic instead of a load and a CAS when it does, and a
    // CAS that fails returns the word, which the loop goes on from as if it had loaded it.
    let s = FOLDABLE;
    for (;;) {
      const seen = Atomics.compareExchange(this.i32, sw, s, s & ~ST_PENDING);
      if (seen === s) return true;
      s = seen;
      if (!(s & ST_PENDING)) return false;
    }
  }

  /**
   * Records that a consumer read `n` from the vector's trigger: 1 delivered and n - 1 coalesced, taken
   * out of pending. Signals nobody counted (the kernel's own for VfioDevice, or foreign writes) are
   * added to raised and external first, so the invariant holds.
   */
  recordConsumed(index: number, vector: number, n: number | bigint): void {
    if (n === 1) {
      this.consumedOne(this.rec(index, vector));
      return;
    }
    const k = BigInt(n);
    if (k <= 0n) return;
    const r = this.rec(index, vector);
    const pi = counterOf(r, Counter.Pending);
    let took: bigint;
    for (;;) {
      const p = Atomics.load(this.u64, pi);
      took = p < k ? p : k;
      if (Atomics.compareExchange(this.u64, pi, p, p - took) === p) break;
    }
    if (took < k) {
      this.add(r, Counter.External, k - took);
      this.add(r, Counter.Raised, k - took);
    }
    this.add(r, Counter.Delivered, 1n);
    if (k > 1n) this.add(r, Counter.Coalesced, k - 1n);
  }

  /**
   * recordConsumed of one (a NAPI poll's take, a read of 1): the same counts without the general
   * path's conversion to bigint and its comparisons, and with a compare-exchange that fails going on
   * from the value it returns instead of loading pending again.
   */
  private consumedOne(r: number): void {
    const u64 = this.u64;
    const pi = counterOf(r, Counter.Pending);
    let p = Atomics.load(u64, pi);
    for (;;) {
      if (p === 0n) {
        // nobody counted this signal (see recordConsumed)
        Atomics.add(u64, counterOf(r, Counter.External), 1n);
        Atomics.add(u64, counterOf(r, Counter.Raised), 1n);
        break;
      }
      const seen = Atomics.compareExchange(u64, pi, p, p - 1n);
      if (seen === p) break;
      p = seen;
    }
    Atomics.add(u64, counterOf(r, Counter.Delivered), 1n);
  }

  /**
   * Reads the vector's trigger once (without blocking) and records the consumption. Returns the count
   * read (0n if nothing was there or no trigger is bound).
   */
  consume(index: number, vector: number): bigint {
    const desc = this.trigger(index, vector);
    if (!desc) return 0n;
    const n = takeDesc(desc);
    if (n > 0n) this.recordConsumed(index, vector, n);
    return n;
  }

  /** Checks the accounting invariant for every vector; returns the vectors that break it. */
  checkInvariant(): Array<{ index: number; vector: number; counters: VectorCounters }> {
    const bad: Array<{ index: number; vector: number; counters: VectorCounters }> = [];
    for (let index = 0; index < VFIO_PCI_NUM_IRQS; index++) {
      for (let vector = 0; vector < this.counts[index]; vector++) {
        const c = this.counters(index, vector);
        if (c.raised !== c.delivered + c.coalesced + c.pending + c.dropped)
          bad.push({ index, vector, counters: c });
      }
    }
    return bad;
  }

  /** @internal adds to a counter (negative to subtract) */
  add(r: number, counter: Counter, n: bigint): void {
    const i = counterOf(r, counter);
    if (n >= 0n) Atomics.add(this.u64, i, n);
    else Atomics.sub(this.u64, i, -n);
  }

  /** @internal takes back a held interrupt: pending -> dropped (clamped at the pending count) */
  dropHeld(r: number): void {
    const pi = counterOf(r, Counter.Pending);
    for (;;) {
      const p = Atomics.load(this.u64, pi);
      if (p === 0n) {
        // a foreign consumer already took it as pending: it was delivered, nothing to drop
        return;
      }
      if (Atomics.compareExchange(this.u64, pi, p, p - 1n) === p) break;
    }
    this.add(r, Counter.Dropped, 1n);
  }
}

/** The state of a vector a raise folds into its held interrupt: enabled, bound, masked, PBA set. */
const FOLDABLE = ST_ENABLED | ST_TRIGGER | ST_MASKED | ST_PENDING;

/**
 * INTx masking involves the device (DisINTx, the level, virq_disabled): it goes through setIrqs or the
 * INTx unmask eventfd (a virqfd), never through the lock-free table path.
 */
function noIntx(index: number, what: string): void {
  if (index === VFIO_PCI_INTX_IRQ_INDEX) {
    throw outOfRange(`VectorTable.${what}: INTx is masked through setIrqs or its unmask eventfd`);
  }
}
