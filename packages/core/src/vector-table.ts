/**
 * The vector table: every piece of per-vector state — enabled, masked, held-pending (the PBA bit),
 * which trigger is bound, and the accounting counters — in one SharedArrayBuffer. The device (the
 * owner, on the thread that calls setIrqs) writes configuration; any thread that attached the table
 * (`VectorTable.attach(handle)`) reads state and counters, records consumption, masks and unmasks
 * vectors, and signals triggers. Hot-path transitions are lock-free (CAS on a state word).
 *
 * Accounting, per vector (u64 counters; exact up to 2^53 when read as numbers):
 *   raised     interrupts the vector accepted: signalled to its trigger, or held by its mask.
 *   delivered  consumptions: each consumer read of the trigger that returned n >= 1 counts 1 ...
 *   coalesced  ... and n - 1 here (n raises folded into one read); a raise that finds the vector
 *              masked with its PBA bit already set is coalesced at once.
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

import { EventFdPool, type EventFdPoolHandle } from './eventfd-pool.js';
import { signalDesc, type TriggerDesc, takeDesc } from './trigger.js';
import {
  IRQ_INDEX_NAMES,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from './uapi.js';

const MAGIC = 0x76697174; // 'virqt'
const VERSION = 1;
const HEADER_BYTES = 64;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_COUNT = 2; // 5 words
const H_BASE = 7; // 5 words
const H_TOTAL = 12;
const H_IRQ_TYPE = 13;
const H_GENERATION = 14;

/** Bytes per vector record. */
export const RECORD_BYTES = 128;
const R_STATE = 0;
const R_TSEQ = 1;
const R_TKIND = 2;
const R_TA = 3;
const R_TB = 4;
const R_TC = 5;
const R_INFLIGHT = 6;
const R_SYNC_WAITERS = 7;
const COUNTERS_OFFSET = 64; // bytes into the record

/** State bit: the vector exists and its index is enabled. */
export const ST_ENABLED = 1;
/** State bit: a trigger is bound. */
export const ST_TRIGGER = 2;
/** State bit: masked (INTx: ctx->masked; MSI/MSI-X: per-vector mask, an extension). */
export const ST_MASKED = 4;
/** State bit: an interrupt is held by the mask (the PBA bit), counted in pending, not yet signalled. */
export const ST_PENDING = 8;
/** State bit: (INTx) the device is asserting the line. */
export const ST_LEVEL = 16;
/** State bit: the kernel signals this vector's trigger itself (VfioDevice): raises are seen at consumption. */
export const ST_EXTERNAL = 32;

const TK_NONE = 0;
const TK_SHARED = 1;
const TK_KERNEL = 2;

/** Counter positions in a vector record (for {@link VectorTable.counter}). */
export const Counter = {
  Raised: 0,
  Delivered: 1,
  Coalesced: 2,
  Pending: 3,
  Dropped: 4,
  Unrouted: 5,
  External: 6,
} as const;
/** One of the {@link Counter} positions. */
export type Counter = (typeof Counter)[keyof typeof Counter];

/** A vector's counters, as numbers. */
export interface VectorCounters {
  raised: number;
  delivered: number;
  coalesced: number;
  pending: number;
  dropped: number;
  unrouted: number;
  external: number;
}

/** A vector's state, decoded. */
export interface VectorState {
  enabled: boolean;
  triggered: boolean;
  masked: boolean;
  pendingBit: boolean;
  level: boolean;
  external: boolean;
}

/** What one raise did. */
export type RaiseOutcome = 'signalled' | 'held' | 'coalesced' | 'unrouted';

/** Structured-cloneable handle: the table buffer and the eventfd pools its triggers live in. */
export interface VectorTableHandle {
  buffer: SharedArrayBuffer;
  pools: EventFdPoolHandle[];
}

/** Vector counts per index, for {@link VectorTable.create}. */
export interface VectorTableLayout {
  intx: number;
  msi: number;
  msix: number;
  err: number;
  req: number;
}

/**
 * Per-vector state and counters in shared memory. The owner creates it (`VectorTable.create`), other
 * threads attach (`VectorTable.attach(handle)`) and see the same state.
 */
export class VectorTable {
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly u64: BigUint64Array;
  private readonly counts: number[] = [];
  private readonly bases: number[] = [];
  /** Records this thread is signalling right now (so a nested synchronize does not wait on itself). */
  private readonly localInflight: Int32Array;
  private readonly pools = new Set<EventFdPool>();
  private lastPool: EventFdPool | null = null;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.u64 = new BigUint64Array(buffer);
    if (Atomics.load(this.i32, H_MAGIC) !== MAGIC || this.i32[H_VERSION] !== VERSION) {
      throw new TypeError('VectorTable: buffer does not hold a virq vector table');
    }
    for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
      this.counts.push(this.i32[H_COUNT + i]);
      this.bases.push(this.i32[H_BASE + i]);
    }
    this.localInflight = new Int32Array(this.i32[H_TOTAL]);
  }

  /** Creates a table with room for the given number of vectors per index. */
  static create(layout: VectorTableLayout): VectorTable {
    const counts = [layout.intx, layout.msi, layout.msix, layout.err, layout.req];
    let total = 0;
    const bases: number[] = [];
    for (const c of counts) {
      if (!Number.isInteger(c) || c < 0 || c > 2048)
        throw new RangeError(`VectorTable: bad vector count ${c}`);
      bases.push(total);
      total += c;
    }
    const buffer = new SharedArrayBuffer(HEADER_BYTES + total * RECORD_BYTES);
    const i32 = new Int32Array(buffer);
    i32[H_VERSION] = VERSION;
    for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
      i32[H_COUNT + i] = counts[i];
      i32[H_BASE + i] = bases[i];
    }
    i32[H_TOTAL] = total;
    i32[H_IRQ_TYPE] = VFIO_PCI_NUM_IRQS;
    Atomics.store(i32, H_MAGIC, MAGIC);
    return new VectorTable(buffer);
  }

  /** Attaches to a table from its handle (any thread) and registers its eventfd pools in this thread. */
  static attach(handle: VectorTableHandle): VectorTable {
    const t = new VectorTable(handle.buffer);
    for (const p of handle.pools ?? []) t.registerPool(p);
    return t;
  }

  /** Structured-cloneable handle, listing every pool a bound shared trigger lives in. */
  get handle(): VectorTableHandle {
    return { buffer: this.buffer, pools: [...this.pools].map((p) => p.handle) };
  }

  /**
   * Makes an eventfd pool known to this thread's table object, so triggers in it can be signalled here.
   * Needed only for pools that appeared after this thread attached.
   */
  registerPool(handle: EventFdPoolHandle | EventFdPool): EventFdPool {
    const pool = handle instanceof EventFdPool ? handle : EventFdPool.from(handle);
    this.pools.add(pool);
    return pool;
  }

  /**
   * Forgets an eventfd pool in this thread's table object: its {@link handle} no longer lists it.
   * Refused (false) while any vector's trigger still lives in it; true if it was forgotten, or was
   * never known. With {@link EventFdPool.unregister}, what a pool's owner does when it is done with
   * the pool, so that nothing keeps naming its buffer.
   */
  unregisterPool(pool: EventFdPoolHandle | EventFdPool): boolean {
    const buffer = pool.buffer;
    let known: EventFdPool | undefined;
    for (const p of this.pools) if (p.buffer === buffer) known = p;
    if (known === undefined) return true;
    for (let r = 0; r < this.i32[H_TOTAL]; r++) {
      const t = this.readTrigger(r);
      if (t?.kind === 'shared' && t.poolId === known.id) return false;
    }
    this.pools.delete(known);
    if (this.lastPool === known) this.lastPool = null;
    return true;
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

  private rec(index: number, vector: number): number {
    const n = this.counts[index];
    if (n === undefined || !Number.isInteger(vector) || vector < 0 || vector >= n) {
      throw new RangeError(
        `VectorTable: ${IRQ_INDEX_NAMES[index] ?? `index ${index}`} has no vector ${vector} (has ${n ?? 0})`,
      );
    }
    return this.bases[index] + vector;
  }

  private w(rec: number, word: number): number {
    return ((HEADER_BYTES + rec * RECORD_BYTES) >> 2) + word;
  }

  private c(rec: number, counter: Counter): number {
    return ((HEADER_BYTES + rec * RECORD_BYTES + COUNTERS_OFFSET) >> 3) + counter;
  }

  // ---- reads (any thread) ---------------------------------------------------------------------

  /** Raw state bits of a vector (ST_*). */
  stateBits(index: number, vector: number): number {
    return Atomics.load(this.i32, this.w(this.rec(index, vector), R_STATE));
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
    const get = (k: Counter) => Number(Atomics.load(this.u64, this.c(r, k)));
    return {
      raised: get(Counter.Raised),
      delivered: get(Counter.Delivered),
      coalesced: get(Counter.Coalesced),
      pending: get(Counter.Pending),
      dropped: get(Counter.Dropped),
      unrouted: get(Counter.Unrouted),
      external: get(Counter.External),
    };
  }

  /** One counter, as a bigint (exact). */
  counter(index: number, vector: number, which: Counter): bigint {
    return Atomics.load(this.u64, this.c(this.rec(index, vector), which));
  }

  /** Where the vector's trigger is (a SharedEventFd slot or a kernel fd), or null. */
  trigger(index: number, vector: number): TriggerDesc | null {
    return this.readTrigger(this.rec(index, vector));
  }

  private readTrigger(r: number): TriggerDesc | null {
    // seqlock: the owner makes TSEQ odd while it rewrites the descriptor words
    for (;;) {
      const q = Atomics.load(this.i32, this.w(r, R_TSEQ));
      if (q & 1) continue;
      const kind = Atomics.load(this.i32, this.w(r, R_TKIND));
      const a = Atomics.load(this.i32, this.w(r, R_TA));
      const b = Atomics.load(this.i32, this.w(r, R_TB));
      const c = Atomics.load(this.i32, this.w(r, R_TC));
      if (Atomics.load(this.i32, this.w(r, R_TSEQ)) !== q) continue;
      if (kind === TK_SHARED) return { kind: 'shared', poolId: a, slot: b, gen: c };
      if (kind === TK_KERNEL) return { kind: 'kernel', fd: a };
      return null;
    }
  }

  // ---- hot path (any thread) ------------------------------------------------------------------

  /**
   * Signals the vector's trigger (eventfd_signal) if one is bound; false if none. Safe against a
   * concurrent unbind: the owner waits for in-flight signallers before it releases the old eventfd
   * (the synchronize_irq() of vfio_intx_set_signal / free_irq).
   */
  signalTrigger(index: number, vector: number): boolean {
    return this.signalRec(this.rec(index, vector));
  }

  private signalRec(r: number): boolean {
    const fl = this.w(r, R_INFLIGHT);
    Atomics.add(this.i32, fl, 1);
    this.localInflight[r]++;
    try {
      // the hot path of every interrupt: read the descriptor words under the seqlock without
      // allocating a descriptor object
      const i32 = this.i32;
      const qi = this.w(r, R_TSEQ);
      let kind: number;
      let a: number;
      let b: number;
      let c: number;
      for (;;) {
        const q = Atomics.load(i32, qi);
        if (q & 1) continue;
        kind = Atomics.load(i32, qi + (R_TKIND - R_TSEQ));
        a = Atomics.load(i32, qi + (R_TA - R_TSEQ));
        b = Atomics.load(i32, qi + (R_TB - R_TSEQ));
        c = Atomics.load(i32, qi + (R_TC - R_TSEQ));
        if (Atomics.load(i32, qi) === q) break;
      }
      if (kind === TK_SHARED) {
        let pool = this.lastPool;
        if (pool === null || pool.id !== a) {
          pool = EventFdPool.byId(a) ?? null;
          if (!pool) throw new Error(`eventfd pool ${a} is not attached in this thread (registerPool)`);
          this.lastPool = pool;
        }
        if (!pool.valid(b, c)) return false;
        pool.signal(b);
        return true;
      }
      if (kind === TK_KERNEL) return signalDesc({ kind: 'kernel', fd: a });
      return false;
    } finally {
      this.localInflight[r]--;
      if (Atomics.sub(this.i32, fl, 1) === 1 && Atomics.load(this.i32, this.w(r, R_SYNC_WAITERS)) > 0) {
        Atomics.notify(this.i32, fl);
      }
    }
  }

  /**
   * A device interrupt on an edge-triggered vector (MSI, MSI-X, ERR, REQ): vfio_msihandler's
   * eventfd_signal, plus the per-vector mask extension. Returns what became of it.
   */
  raise(index: number, vector: number): RaiseOutcome {
    const r = this.rec(index, vector);
    const sw = this.w(r, R_STATE);
    let s = Atomics.load(this.i32, sw);
    if ((s & (ST_ENABLED | ST_TRIGGER)) !== (ST_ENABLED | ST_TRIGGER)) {
      this.add(r, Counter.Unrouted, 1n);
      return 'unrouted';
    }
    // count first: a consumer must never read a signal that is not yet counted as pending
    this.add(r, Counter.Raised, 1n);
    this.add(r, Counter.Pending, 1n);
    for (;;) {
      s = Atomics.load(this.i32, sw);
      if ((s & (ST_ENABLED | ST_TRIGGER)) !== (ST_ENABLED | ST_TRIGGER)) return this.unroute(r);
      if (s & ST_MASKED) {
        if (s & ST_PENDING) {
          this.add(r, Counter.Pending, -1n);
          this.add(r, Counter.Coalesced, 1n);
          return 'coalesced';
        }
        if (Atomics.compareExchange(this.i32, sw, s, s | ST_PENDING) === s) return 'held';
        continue;
      }
      return this.signalRec(r) ? 'signalled' : this.unroute(r);
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
    const sw = this.w(this.rec(index, vector), R_STATE);
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
    const sw = this.w(r, R_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, sw);
      if (!(s & ST_MASKED)) return 'noop';
      if (Atomics.compareExchange(this.i32, sw, s, s & ~(ST_MASKED | ST_PENDING)) !== s) continue;
      if (!(s & ST_PENDING)) return 'unmasked';
      // the held interrupt was counted as pending when it was raised; now it moves to the trigger
      if (this.signalRec(r)) return 'signalled';
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
    const sw = this.w(this.rec(index, vector), R_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, sw);
      if (!(s & ST_PENDING)) return false;
      if (Atomics.compareExchange(this.i32, sw, s, s & ~ST_PENDING) === s) return true;
    }
  }

  /**
   * Records that a consumer read `n` from the vector's trigger: 1 delivered and n - 1 coalesced, taken
   * out of pending. Signals nobody counted (the kernel's own for VfioDevice, or foreign writes) are
   * added to raised and external first, so the invariant holds.
   */
  recordConsumed(index: number, vector: number, n: number | bigint): void {
    const k = BigInt(n);
    if (k <= 0n) return;
    const r = this.rec(index, vector);
    const pi = this.c(r, Counter.Pending);
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

  // ---- owner side (the device's thread) ---------------------------------------------------------

  /** @internal adds to a counter (negative to subtract) */
  add(r: number, counter: Counter, n: bigint): void {
    const i = this.c(r, counter);
    if (n >= 0n) Atomics.add(this.u64, i, n);
    else Atomics.sub(this.u64, i, -n);
  }

  /** @internal record number of (index, vector) */
  recordOf(index: number, vector: number): number {
    return this.rec(index, vector);
  }

  /** @internal sets and clears state bits atomically; returns the previous state */
  updateState(index: number, vector: number, set: number, clear: number): number {
    const sw = this.w(this.rec(index, vector), R_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, sw);
      const ns = (s | set) & ~clear;
      if (Atomics.compareExchange(this.i32, sw, s, ns) === s) return s;
    }
  }

  /** @internal publishes the enabled IRQ type */
  setIrqType(type: number): void {
    Atomics.store(this.i32, H_IRQ_TYPE, type);
    this.bump();
  }

  /** @internal */
  bump(): void {
    Atomics.add(this.i32, H_GENERATION, 1);
  }

  /** @internal counts an accepted raise as pending (INTx, loopback) */
  countRaise(index: number, vector: number): void {
    const r = this.rec(index, vector);
    this.add(r, Counter.Raised, 1n);
    this.add(r, Counter.Pending, 1n);
  }

  /** @internal counts a raise that went nowhere */
  countUnrouted(index: number, vector: number): void {
    this.add(this.rec(index, vector), Counter.Unrouted, 1n);
  }

  /** @internal counts a raise folded into one already held */
  countCoalescedRaise(index: number, vector: number): void {
    const r = this.rec(index, vector);
    this.add(r, Counter.Raised, 1n);
    this.add(r, Counter.Coalesced, 1n);
  }

  /** @internal takes back a held interrupt: pending -> dropped (clamped at the pending count) */
  dropHeldOf(index: number, vector: number): void {
    this.dropHeld(this.rec(index, vector));
  }

  private dropHeld(r: number): void {
    const pi = this.c(r, Counter.Pending);
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

  /**
   * @internal binds (or with null unbinds) a vector's trigger and publishes it, then waits until no
   * thread is still signalling the previous one (synchronize_irq). An unbind drops a held interrupt.
   */
  publishTrigger(index: number, vector: number, desc: TriggerDesc | null, pool: EventFdPool | null): void {
    const r = this.rec(index, vector);
    if (pool) this.pools.add(pool);
    const q = this.w(r, R_TSEQ);
    Atomics.add(this.i32, q, 1); // odd: readers retry
    if (!desc) {
      Atomics.store(this.i32, this.w(r, R_TKIND), TK_NONE);
    } else if (desc.kind === 'shared') {
      Atomics.store(this.i32, this.w(r, R_TA), desc.poolId);
      Atomics.store(this.i32, this.w(r, R_TB), desc.slot);
      Atomics.store(this.i32, this.w(r, R_TC), desc.gen);
      Atomics.store(this.i32, this.w(r, R_TKIND), TK_SHARED);
    } else {
      Atomics.store(this.i32, this.w(r, R_TA), desc.fd);
      Atomics.store(this.i32, this.w(r, R_TKIND), TK_KERNEL);
    }
    Atomics.add(this.i32, q, 1); // even again
    if (desc) this.updateState(index, vector, ST_TRIGGER, 0);
    else {
      const prev = this.updateState(index, vector, 0, ST_TRIGGER | ST_PENDING);
      if (prev & ST_PENDING) this.dropHeld(r);
    }
    this.bump();
    this.synchronize(r);
  }

  /** @internal waits until no other thread is inside signalRec for this record */
  synchronize(r: number): void {
    const fl = this.w(r, R_INFLIGHT);
    const sw = this.w(r, R_SYNC_WAITERS);
    for (;;) {
      const n = Atomics.load(this.i32, fl);
      if (n <= this.localInflight[r]) return;
      Atomics.add(this.i32, sw, 1);
      Atomics.wait(this.i32, fl, n, 5);
      Atomics.sub(this.i32, sw, 1);
    }
  }

  /** @internal clears a vector's configuration (index disabled): state bits, held interrupt dropped */
  resetVector(index: number, vector: number): void {
    const prev = this.updateState(index, vector, 0, ST_ENABLED | ST_MASKED | ST_PENDING | ST_EXTERNAL);
    if (prev & ST_PENDING) this.dropHeld(this.rec(index, vector));
  }
}

/**
 * INTx masking involves the device (DisINTx, the level, virq_disabled): it goes through setIrqs or the
 * INTx unmask eventfd (a virqfd), never through the lock-free table path.
 */
function noIntx(index: number, what: string): void {
  if (index === VFIO_PCI_INTX_IRQ_INDEX) {
    throw new RangeError(`VectorTable.${what}: INTx is masked through setIrqs or its unmask eventfd`);
  }
}

/** Index constants re-exported for table users. */
export const INDEXES = {
  INTX: VFIO_PCI_INTX_IRQ_INDEX,
  MSI: VFIO_PCI_MSI_IRQ_INDEX,
  MSIX: VFIO_PCI_MSIX_IRQ_INDEX,
  ERR: VFIO_PCI_ERR_IRQ_INDEX,
  REQ: VFIO_PCI_REQ_IRQ_INDEX,
} as const;
