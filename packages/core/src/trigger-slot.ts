/**
 * The trigger slot of every vector record: which eventfd a vector signals (a SharedEventFd slot in an
 * eventfd pool, or a kernel fd), written by the owner under a seqlock and read by any thread, plus the
 * in-flight count that lets the owner wait out signallers before it releases an old eventfd (the
 * synchronize_irq() of vfio_intx_set_signal / free_irq). One object per thread per table: it also
 * holds the eventfd pools this thread can signal into.
 */

import type { TriggerDesc } from '@virq/trigger/internal';
import {
  EventFdPool,
  type EventFdPoolHandle,
  kernelFdBatchable,
  kernelFdSignal,
  kernelFdSignalMany,
  notAttached,
} from '@virq/trigger/internal';
import {
  H_BATCH_INFLIGHT,
  H_GENERATION,
  R_INFLIGHT,
  R_SYNC_WAITERS,
  R_TA,
  R_TB,
  R_TC,
  R_TKIND,
  R_TSEQ,
  TK_KERNEL,
  TK_NONE,
  TK_SHARED,
  wordOf,
} from './vector-layout.js';

/**
 * A kernel eventfd a batch may signal together with the rest (O_NONBLOCK, native addon loaded): a kind
 * of this thread's descriptor copy only, never stored in a record.
 */
const TK_KERNEL_BATCH = 3;

/**
 * Kernel signals a batch gathers before it writes them with one call (kernelFdSignalMany: one
 * io_uring_enter). A NIC's queue count is well under it; a larger batch is written in pieces of this.
 */
const BATCH_SIGNALS = 256;

/** The trigger slots of one table, as seen from one thread. */
export class TriggerSlots {
  /** Records this thread is signalling right now (so a nested synchronize does not wait on itself). */
  private readonly localInflight: Int32Array;
  /** Batches this thread is inside right now (raiseMany; a nested synchronize does not wait on them). */
  private localBatch = 0;
  /** Pools triggers of this table live in, known to this thread. */
  readonly pools = new Set<EventFdPool>();
  private lastPool: EventFdPool | null = null;
  /**
   * This thread's copy of each record's descriptor, and the table generation it was read at. The
   * owner bumps the generation after every descriptor change (VectorTableOwner.publishTrigger), so
   * while the generation is unchanged the copy is current: a signal loads one header word instead
   * of the six seqlock reads and the eventfd slot's two validity loads. A copy read just before a
   * change is kept under the old generation and refreshed by the first signal after the bump; one
   * taken during the change may be newer than its generation, which only refreshes it once more.
   * Signals that entered before the bump are the ones the owner's synchronize() waits out.
   */
  private readonly cachedAt: Int32Array;
  private readonly cached: Uint8Array;
  private readonly cKind: Uint8Array;
  private readonly cA: Int32Array;
  private readonly cPool: (EventFdPool | null)[];
  /**
   * The kernel eventfds this thread's open batch has yet to signal. A raise in a batch is counted at
   * once and its eventfd written when the batch ends (or this fills), still inside the batch's in-flight
   * section: a consumer may see a raise counted as pending before its signal, never a signal before its
   * count, and the owner's synchronize() waits for the write, as for one made at once.
   */
  private readonly batchFds = new Int32Array(BATCH_SIGNALS);
  private batchN = 0;

  constructor(
    private readonly i32: Int32Array,
    private readonly total: number,
  ) {
    this.localInflight = new Int32Array(total);
    this.cachedAt = new Int32Array(total);
    this.cached = new Uint8Array(total);
    this.cKind = new Uint8Array(total);
    this.cA = new Int32Array(total);
    this.cPool = new Array(total).fill(null);
  }

  /** Makes a pool known to this thread (see VectorTable.registerPool). */
  registerPool(handle: EventFdPoolHandle | EventFdPool): EventFdPool {
    const pool = handle instanceof EventFdPool ? handle : EventFdPool.from(handle);
    this.pools.add(pool);
    return pool;
  }

  /** Forgets a pool unless a trigger still lives in it (see VectorTable.unregisterPool). */
  unregisterPool(pool: EventFdPoolHandle | EventFdPool): boolean {
    const buffer = pool.buffer;
    let known: EventFdPool | undefined;
    for (const p of this.pools) if (p.buffer === buffer) known = p;
    if (known === undefined) return true;
    for (let r = 0; r < this.total; r++) {
      const t = this.read(r);
      if (t?.kind === 'shared' && t.poolId === known.id) return false;
    }
    this.pools.delete(known);
    if (this.lastPool === known) this.lastPool = null;
    return true;
  }

  /** The trigger of record `r`, or null. */
  read(r: number): TriggerDesc | null {
    // seqlock: the owner makes TSEQ odd while it rewrites the descriptor words
    for (;;) {
      const q = Atomics.load(this.i32, wordOf(r, R_TSEQ));
      if (q & 1) continue;
      const kind = Atomics.load(this.i32, wordOf(r, R_TKIND));
      const a = Atomics.load(this.i32, wordOf(r, R_TA));
      const b = Atomics.load(this.i32, wordOf(r, R_TB));
      const c = Atomics.load(this.i32, wordOf(r, R_TC));
      if (Atomics.load(this.i32, wordOf(r, R_TSEQ)) !== q) continue;
      if (kind === TK_SHARED) return { kind: 'shared', poolId: a, slot: b, gen: c };
      if (kind === TK_KERNEL) return { kind: 'kernel', fd: a };
      return null;
    }
  }

  /** Owner: rewrites record `r`'s descriptor (null: none bound); readers retry meanwhile. */
  write(r: number, desc: TriggerDesc | null, pool: EventFdPool | null): void {
    if (pool) this.pools.add(pool);
    const q = wordOf(r, R_TSEQ);
    Atomics.add(this.i32, q, 1); // odd: readers retry
    if (!desc) {
      Atomics.store(this.i32, wordOf(r, R_TKIND), TK_NONE);
    } else if (desc.kind === 'shared') {
      Atomics.store(this.i32, wordOf(r, R_TA), desc.poolId);
      Atomics.store(this.i32, wordOf(r, R_TB), desc.slot);
      Atomics.store(this.i32, wordOf(r, R_TC), desc.gen);
      Atomics.store(this.i32, wordOf(r, R_TKIND), TK_SHARED);
    } else {
      Atomics.store(this.i32, wordOf(r, R_TA), desc.fd);
      Atomics.store(this.i32, wordOf(r, R_TKIND), TK_KERNEL);
    }
    Atomics.add(this.i32, q, 1); // even again
  }

  /**
   * Signals record `r`'s trigger (eventfd_signal) if one is bound; false if none. Safe against a
   * concurrent unbind: the owner's {@link synchronize} waits for this call before it releases the
   * old eventfd.
   */
  signal(r: number): boolean {
    const fl = wordOf(r, R_INFLIGHT);
    Atomics.add(this.i32, fl, 1);
    this.localInflight[r]++;
    try {
      // the hot path of every interrupt: one generation load while this thread's copy is current
      return this.signalAt(r, Atomics.load(this.i32, H_GENERATION));
    } finally {
      this.localInflight[r]--;
      if (Atomics.sub(this.i32, fl, 1) === 1 && Atomics.load(this.i32, wordOf(r, R_SYNC_WAITERS)) > 0) {
        Atomics.notify(this.i32, fl);
      }
    }
  }

  /**
   * Signals record `r`'s trigger through this thread's copy of its descriptor at generation `g`
   * (loaded by the caller after it entered an in-flight section: {@link signal}'s per record, or a
   * batch's, see {@link beginBatch}).
   */
  signalAt(r: number, g: number): boolean {
    if (this.cached[r] === 0 || this.cachedAt[r] !== g) this.refresh(r, g);
    const kind = this.cKind[r];
    if (kind === TK_SHARED) {
      (this.cPool[r] as EventFdPool).signal(this.cA[r]);
      return true;
    }
    if (kind === TK_KERNEL_BATCH && this.localBatch > 0) {
      this.batchFds[this.batchN++] = this.cA[r];
      if (this.batchN === BATCH_SIGNALS) this.flushSignals();
      return true;
    }
    if (kind === TK_KERNEL || kind === TK_KERNEL_BATCH) {
      kernelFdSignal(this.cA[r]);
      return true;
    }
    return false;
  }

  /** Writes the kernel eventfds the open batch gathered (see {@link batchFds}). */
  private flushSignals(): void {
    const n = this.batchN;
    this.batchN = 0;
    kernelFdSignalMany(this.batchFds, n);
  }

  /**
   * Enters a batch's in-flight section: one table-wide count (header word H_BATCH_INFLIGHT) instead
   * of one per record, which {@link synchronize} waits out as well. Returns the generation to
   * signal at ({@link signalAt}) for the whole batch: a record rebound meanwhile may get the old
   * trigger's signal, which is what synchronize_irq allows — the owner does not release the old
   * eventfd until the batch has left.
   */
  beginBatch(): number {
    Atomics.add(this.i32, H_BATCH_INFLIGHT, 1);
    this.localBatch++;
    return Atomics.load(this.i32, H_GENERATION);
  }

  /**
   * Signals what the batch gathered, then leaves its in-flight section; wakes an owner waiting in
   * {@link synchronize}. The section is left even if a signal fails (the failure is thrown after).
   */
  endBatch(): void {
    try {
      if (this.batchN > 0) this.flushSignals();
    } finally {
      this.localBatch--;
      if (Atomics.sub(this.i32, H_BATCH_INFLIGHT, 1) === 1) Atomics.notify(this.i32, H_BATCH_INFLIGHT);
    }
  }

  /** Reads record `r`'s descriptor under the seqlock into this thread's copy, at generation `g`. */
  private refresh(r: number, g: number): void {
    const i32 = this.i32;
    const qi = wordOf(r, R_TSEQ);
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
    let pool: EventFdPool | null = null;
    if (kind === TK_SHARED) {
      pool = this.lastPool;
      if (pool === null || pool.id !== a) {
        pool = EventFdPool.byId(a) ?? null;
        if (!pool) throw notAttached(a);
        this.lastPool = pool;
      }
      // A bound trigger holds a reference on its eventfd slot (eventfd_ctx_get), so the slot stays
      // valid for as long as this descriptor is current; checked once here, not per signal.
      if (!pool.valid(b, c)) kind = TK_NONE;
      a = b;
    } else if (kind === TK_KERNEL) {
      // once per descriptor change, not per signal (one fcntl)
      if (kernelFdBatchable(a)) kind = TK_KERNEL_BATCH;
    } else {
      kind = TK_NONE;
    }
    this.cKind[r] = kind;
    this.cA[r] = a;
    this.cPool[r] = pool;
    this.cachedAt[r] = g;
    this.cached[r] = 1;
  }

  /** Owner: waits until no other thread is inside {@link signal} for record `r`, nor in a batch. */
  synchronize(r: number): void {
    const fl = wordOf(r, R_INFLIGHT);
    const sw = wordOf(r, R_SYNC_WAITERS);
    for (;;) {
      // A batch is short (one pass over its vectors): it notifies when the last one leaves.
      const batches = Atomics.load(this.i32, H_BATCH_INFLIGHT);
      if (batches <= this.localBatch) break;
      Atomics.wait(this.i32, H_BATCH_INFLIGHT, batches, 5);
    }
    for (;;) {
      const n = Atomics.load(this.i32, fl);
      if (n <= this.localInflight[r]) return;
      Atomics.add(this.i32, sw, 1);
      Atomics.wait(this.i32, fl, n, 5);
      Atomics.sub(this.i32, sw, 1);
    }
  }
}
