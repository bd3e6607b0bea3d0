/**
 * {@link VectorOps} over core's VectorTable: the dispatcher never keeps its own copy of raised /
 * delivered / coalesced / pending; it records consumption in core's table, which owns the invariant
 * raised = delivered + coalesced + pending + dropped.
 */
import { Counter, ST_MASKED, type VectorTable, VFIO_PCI_INTX_IRQ_INDEX } from '@virq/core';
import type { VectorOps } from './ports.js';

/** Vector operations by position, for one irq index. */
export class TableOps implements VectorOps {
  /** INTx: a level-triggered, automasked index. */
  private readonly level: boolean;

  constructor(
    readonly table: VectorTable,
    readonly index: number,
    readonly vectors: readonly number[],
  ) {
    this.level = index === VFIO_PCI_INTX_IRQ_INDEX;
  }

  consumed(pos: number, n: number): void {
    this.table.recordConsumed(this.index, this.vectors[pos], n);
  }

  /**
   * INTx is never masked here: core masks INTx only through the device (SET_IRQS or the unmask
   * eventfd), and the dispatcher's user mask on INTx is lazy (see unmaskVector in context.ts).
   */
  mask(pos: number): void {
    if (!this.level) this.table.mask(this.index, this.vectors[pos]);
  }

  unmask(pos: number): void {
    if (!this.level) this.table.unmask(this.index, this.vectors[pos]);
  }

  masked(pos: number): boolean {
    return (this.table.stateBits(this.index, this.vectors[pos]) & ST_MASKED) !== 0;
  }

  /**
   * Claims the held interrupt (the PBA bit) of a vector NAPI keeps masked, with core's takeHeld: a
   * raise racing with us either coalesces into the bit before we clear it (counted coalesced) or sets
   * it again after (held, found by the next poll). The claimed interrupt was counted pending when it
   * was raised; the caller records it consumed (1 delivered) after the handler ran.
   */
  poll(pos: number): number {
    return this.table.takeHeld(this.index, this.vectors[pos]) ? 1 : 0;
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
