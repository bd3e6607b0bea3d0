/**
 * The trigger slot of every vector record: which eventfd a vector signals (a SharedEventFd slot in an
 * eventfd pool, or a kernel fd), written by the owner under a seqlock and read by any thread, plus the
 * in-flight count that lets the owner wait out signallers before it releases an old eventfd (the
 * synchronize_irq() of vfio_intx_set_signal / free_irq). One object per thread per table: it also
 * holds the eventfd pools this thread can signal into.
 */

import type { TriggerDesc } from '@virq/trigger/internal';
import { EventFdPool, type EventFdPoolHandle, kernelFdSignal, notAttached } from '@virq/trigger/internal';
import {
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

/** The trigger slots of one table, as seen from one thread. */
export class TriggerSlots {
  /** Records this thread is signalling right now (so a nested synchronize does not wait on itself). */
  private readonly localInflight: Int32Array;
  /** Pools triggers of this table live in, known to this thread. */
  readonly pools = new Set<EventFdPool>();
  private lastPool: EventFdPool | null = null;

  constructor(
    private readonly i32: Int32Array,
    private readonly total: number,
  ) {
    this.localInflight = new Int32Array(total);
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
      // the hot path of every interrupt: read the descriptor words under the seqlock without
      // allocating a descriptor object
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
      if (kind === TK_SHARED) {
        let pool = this.lastPool;
        if (pool === null || pool.id !== a) {
          pool = EventFdPool.byId(a) ?? null;
          if (!pool) throw notAttached(a);
          this.lastPool = pool;
        }
        if (!pool.valid(b, c)) return false;
        pool.signal(b);
        return true;
      }
      if (kind === TK_KERNEL) {
        kernelFdSignal(a);
        return true;
      }
      return false;
    } finally {
      this.localInflight[r]--;
      if (Atomics.sub(this.i32, fl, 1) === 1 && Atomics.load(this.i32, wordOf(r, R_SYNC_WAITERS)) > 0) {
        Atomics.notify(this.i32, fl);
      }
    }
  }

  /** Owner: waits until no other thread is inside {@link signal} for record `r`. */
  synchronize(r: number): void {
    const fl = wordOf(r, R_INFLIGHT);
    const sw = wordOf(r, R_SYNC_WAITERS);
    for (;;) {
      const n = Atomics.load(this.i32, fl);
      if (n <= this.localInflight[r]) return;
      Atomics.add(this.i32, sw, 1);
      Atomics.wait(this.i32, fl, n, 5);
      Atomics.sub(this.i32, sw, 1);
    }
  }
}
