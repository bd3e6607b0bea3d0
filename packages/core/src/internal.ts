/**
 * @virq/core/internal: what @virq/pci's VfioDevice builds on to mirror the kernel's answers into a
 * vector table — the owner's write side of the table, SET_IRQS's implied argsz and its header shape check. Not a user API: it
 * changes with core.
 * @packageDocumentation
 */

export { checkShape, impliedArgsz, SET_IRQS_DISPATCH, vfioSetIrqsValidateAndPrepare } from './set-irqs.js';
export { VectorTableOwner } from './vector-owner.js';
