/**
 * The owner's side of a vector table: the device's thread (SoftDevice's intrs, VfioDevice's mirror)
 * writes configuration here — state bits, the enabled IRQ type, the trigger each vector signals —
 * and counts the raises that do not go through the lock-free {@link VectorTable.raise} (INTx,
 * unrouted messages). Other threads never hold one: they attach a {@link VectorTable}.
 */
import type { EventFdPool, TriggerDesc } from '@virq/trigger/internal';
import {
  Counter,
  H_GENERATION,
  H_IRQ_TYPE,
  R_STATE,
  ST_ENABLED,
  ST_EXTERNAL,
  ST_MASKED,
  ST_PENDING,
  ST_TRIGGER,
  wordOf,
} from './vector-layout.js';
import type { VectorTable } from './vector-table.js';

/** Configuration writes and owner-side counting on one table. */
export class VectorTableOwner {
  constructor(readonly table: VectorTable) {}

  /** Sets and clears state bits atomically; returns the previous state. */
  updateState(index: number, vector: number, set: number, clear: number): number {
    const { i32 } = this.table;
    const sw = wordOf(this.table.rec(index, vector), R_STATE);
    for (;;) {
      const s = Atomics.load(i32, sw);
      const ns = (s | set) & ~clear;
      if (Atomics.compareExchange(i32, sw, s, ns) === s) return s;
    }
  }

  /** Publishes the enabled IRQ type. */
  setIrqType(type: number): void {
    Atomics.store(this.table.i32, H_IRQ_TYPE, type);
    this.bump();
  }

  /** Bumps the configuration generation. */
  bump(): void {
    Atomics.add(this.table.i32, H_GENERATION, 1);
  }

  /** Counts an accepted raise as pending (INTx, loopback). */
  countRaise(index: number, vector: number): void {
    const r = this.table.rec(index, vector);
    this.table.add(r, Counter.Raised, 1n);
    this.table.add(r, Counter.Pending, 1n);
  }

  /** Counts a raise that went nowhere. */
  countUnrouted(index: number, vector: number): void {
    this.table.add(this.table.rec(index, vector), Counter.Unrouted, 1n);
  }

  /** Counts a raise folded into one already held. */
  countCoalescedRaise(index: number, vector: number): void {
    const r = this.table.rec(index, vector);
    this.table.add(r, Counter.Raised, 1n);
    this.table.add(r, Counter.Coalesced, 1n);
  }

  /** Takes back a held interrupt: pending -> dropped (clamped at the pending count). */
  dropHeld(index: number, vector: number): void {
    this.table.dropHeld(this.table.rec(index, vector));
  }

  /**
   * Binds (or with null unbinds) a vector's trigger and publishes it, then waits until no thread is
   * still signalling the previous one (synchronize_irq). An unbind drops a held interrupt.
   */
  publishTrigger(index: number, vector: number, desc: TriggerDesc | null, pool: EventFdPool | null): void {
    const r = this.table.rec(index, vector);
    this.table.slots.write(r, desc, pool);
    if (desc) this.updateState(index, vector, ST_TRIGGER, 0);
    else {
      const prev = this.updateState(index, vector, 0, ST_TRIGGER | ST_PENDING);
      if (prev & ST_PENDING) this.table.dropHeld(r);
    }
    this.bump();
    this.table.slots.synchronize(r);
  }

  /** Clears a vector's configuration (index disabled): state bits, held interrupt dropped. */
  resetVector(index: number, vector: number): void {
    const prev = this.updateState(index, vector, 0, ST_ENABLED | ST_MASKED | ST_PENDING | ST_EXTERNAL);
    if (prev & ST_PENDING) this.table.dropHeld(this.table.rec(index, vector));
  }
}
