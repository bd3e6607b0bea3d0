/**
 * The per-vector accounting and masking of core's VectorTable, by position (`env.ops`): the
 * dispatcher never keeps its own copy of raised / delivered / coalesced / pending; it records
 * consumption in core's table, which owns the invariant raised = delivered + coalesced + pending +
 * dropped.
 */
import { Counter, ST_MASKED, type VectorTable, VFIO_PCI_INTX_IRQ_INDEX } from '@virq/core';

/** Vector operations by position, for one irq index. */
export class TableOps {
  /** INTx: a level-triggered, automasked index. */
  private readonly level: boolean;

  constructor(
    readonly table: VectorTable,
    readonly index: number,
    readonly vectors: readonly number[],
  ) {
    this.level = index === VFIO_PCI_INTX_IRQ_INDEX;
  }

  /** Records that `n` trigger counts of `pos` were consumed by one handler call. */
  consumed(pos: number, n: number): void {
    this.table.recordConsumed(this.index, this.vectors[pos], n);
  }

  /**
   * Masks `pos` in the device model (raises are held pending, the trigger is not signalled).
   * INTx is never masked here: core masks INTx only through the device (SET_IRQS or the unmask
   * eventfd), and the dispatcher's user mask on INTx is lazy (see unmaskVector in context.ts).
   */
  mask(pos: number): void {
    if (!this.level) this.table.mask(this.index, this.vectors[pos]);
  }

  /** Unmasks `pos`; a held pending interrupt is signalled to the trigger (not INTx, see mask). */
  unmask(pos: number): void {
    if (!this.level) this.table.unmask(this.index, this.vectors[pos]);
  }

  /** Whether the device model holds `pos` masked. */
  masked(pos: number): boolean {
    return (this.table.stateBits(this.index, this.vectors[pos]) & ST_MASKED) !== 0;
  }

  /**
   * Claims the held interrupt (the PBA bit) of a vector NAPI keeps masked, with core's takeHeld: a
   * raise racing with us either coalesces into the bit before we clear it (counted coalesced) or sets
   * it again after (held, found by the next poll). Returns 1, or 0 if none is held; the vector stays
   * masked, and what reached the trigger before the mask comes through the trigger set as usual.
   * The claimed interrupt was counted pending when it was raised; the caller records it consumed
   * (1 delivered) after the handler ran.
   */
  poll(pos: number): number {
    return this.table.takeHeld(this.index, this.vectors[pos]) ? 1 : 0;
  }

  /** Raises of `pos` so far (core's raised counter; kernel-signalled ones appear as consumed). */
  raised(pos: number): number {
    return Number(this.table.counter(this.index, this.vectors[pos], Counter.Raised));
  }

  /** The vector table counters of `pos`. */
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
