/**
 * {@link VectorOps} over core's VectorTable: the dispatcher never keeps its own copy of raised /
 * delivered / coalesced / pending; it records consumption in core's table, which owns the invariant
 * raised = delivered + coalesced + pending + dropped.
 */
import { Counter, ST_MASKED, ST_PENDING, type VectorTable } from '@virq/core';
import type { VectorOps } from './ports.js';

/** Vector operations by position, for one irq index. */
export class TableOps implements VectorOps {
  constructor(
    readonly table: VectorTable,
    readonly index: number,
    readonly vectors: readonly number[],
  ) {}

  consumed(pos: number, n: number): void {
    this.table.recordConsumed(this.index, this.vectors[pos], n);
  }

  mask(pos: number): void {
    this.table.mask(this.index, this.vectors[pos]);
  }

  unmask(pos: number): void {
    this.table.unmask(this.index, this.vectors[pos]);
  }

  masked(pos: number): boolean {
    return (this.table.stateBits(this.index, this.vectors[pos]) & ST_MASKED) !== 0;
  }

  /**
   * Claims the held interrupt (the PBA bit) of a vector NAPI keeps masked. Clearing ST_PENDING with
   * the table's state CAS is exactly what unmask() does to a held interrupt, minus the signal: a
   * raise racing with us either coalesces into the bit before we clear it (counted coalesced) or
   * sets it again after (held, found by the next poll). The claimed interrupt was counted pending
   * when it was raised; the caller records it consumed (1 delivered) after the handler ran.
   *
   * Uses VectorTable.updateState, which core marks internal: core has no public "take the held
   * interrupt without unmasking" yet (reported to the lead).
   */
  poll(pos: number): number {
    const prev = this.table.updateState(this.index, this.vectors[pos], 0, ST_PENDING);
    return (prev & ST_PENDING) !== 0 ? 1 : 0;
  }

  raised(pos: number): number {
    return Number(this.table.counter(this.index, this.vectors[pos], Counter.Raised));
  }

  counters(pos: number): {
    raised: number;
    delivered: number;
    coalesced: number;
    pending: number;
    dropped: number;
  } {
    return this.table.counters(this.index, this.vectors[pos]);
  }
}
