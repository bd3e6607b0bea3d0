/**
 * The state drivers/vfio/pci/vfio_pci_intrs.c works on: `struct vfio_pci_core_device`'s IRQ part
 * ({@link Vdev}), its per-vector contexts, and the small predicates every index's file shares. The
 * functions are one file per index, named after the kernel function each mirrors, with the kernel's
 * checks in the kernel's order: intx.ts, msi.ts, err-req.ts; set-irqs.ts holds the dispatch table. Per-vector state that
 * other threads must see (enabled, masked, held-pending, trigger, counters) is kept in the shared
 * VectorTable; the rest (virqfds, eventfd references) lives in `Vdev`, owned by the device's thread.
 *
 * Locking: the kernel serialises SET_IRQS with vdev->igate and the interrupt path with vdev->irqlock.
 * Here the device belongs to one thread and every entry point runs to completion, which gives the
 * same exclusion; the only concurrent actors are other threads touching the VectorTable (lock-free,
 * see vector-table.ts) and signalling triggers (bounded by synchronize()).
 *
 * Mainline behaviour is followed (see README "Differences from the spec"); opt-in extensions are
 * marked EXTENSION and off by default.
 */
import type { EventfdCtx, EventfdLike, KernelErr } from '@virq/trigger/internal';
import { type VirqfdSlot, virqfdSlot } from '@virq/trigger/internal';
import type { KernelProfile } from './kernel-profile.js';
import type { PciFunction } from './pci-function.js';
import { VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX } from './uapi.js';
import type { RaiseOutcome } from './vector-layout.js';
import type { VectorTableOwner } from './vector-owner.js';
import type { VectorTable } from './vector-table.js';

/** Data handed to a set function, already checked against the data type (argsz). */
export type IrqData =
  | { kind: 'none' }
  | { kind: 'bool'; bools: Uint8Array }
  | { kind: 'eventfd'; fds: readonly EventfdLike[] };

/** A set function's result: 0, a positive count (MSI shortfall), or an error. */
export type SetResult = number | KernelErr;

/** `struct vfio_pci_irq_ctx`. */
export interface IrqCtx {
  trigger: EventfdCtx | null;
  /** INTx only: the virtual mask. */
  masked: boolean;
  unmask: VirqfdSlot;
  mask: VirqfdSlot;
}

/** Opt-in behaviour beyond the kernel. All false = byte-for-byte mainline. */
export interface Extensions {
  /** MSI per-vector MASK/UNMASK with a pending bit (advertised as MASKABLE on the MSI index). */
  msiMask: boolean;
  /** MSI-X per-vector MASK/UNMASK with a pending bit (MASKABLE on the MSI-X index). */
  msixMask: boolean;
  /** INTx MASK by eventfd (the kernel's "XXX implement me", -ENOTTY). */
  intxMaskEventfd: boolean;
}

/** The IRQ part of `struct vfio_pci_core_device`. */
export interface Vdev {
  /** VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX, or VFIO_PCI_NUM_IRQS for none. */
  irqType: number;
  /** vdev->ctx: the per-vector contexts (an xarray in mainline: only vectors that have one). */
  readonly ctx: Map<number, IrqCtx>;
  /** The guest-visible INTx Disable bit of the command register. */
  virqDisabled: boolean;
  readonly pci23: boolean;
  /** PCIe function (has the ERR index). */
  readonly pcie: boolean;
  errTrigger: EventfdCtx | null;
  reqTrigger: EventfdCtx | null;
  /** log2 of the MSI vectors enabled (the virtual MSI capability's QSIZE). */
  msiQmax: number;
  readonly pdev: PciFunction;
  readonly table: VectorTable;
  /** The table's configuration side (state bits, triggers, owner-side counting). */
  readonly owner: VectorTableOwner;
  /** What vfio_intx_handler's last vfio_send_intx_eventfd did (read by intxAssert right after). */
  intxOutcome: RaiseOutcome;
  readonly ext: Extensions;
  /** EXTENSION: virqfd slots for MSI/MSI-X per-vector mask/unmask, by vector. */
  readonly vecVirqfds: Map<number, { mask: VirqfdSlot; unmask: VirqfdSlot }>;
  /** vfio_pci_get_irq_count() per index. */
  readonly irqCount: readonly number[];
  /** The kernel answered as: msi.ts and err-req.ts call kernel-profile.ts's checks where kernels differ. */
  readonly kernel: KernelProfile;
}

/** The INTx index, short. */
export const INTX = VFIO_PCI_INTX_IRQ_INDEX;

export function isIntx(vdev: Vdev): boolean {
  return vdev.irqType === VFIO_PCI_INTX_IRQ_INDEX;
}

export function isIrqNone(vdev: Vdev): boolean {
  return !(
    vdev.irqType === VFIO_PCI_INTX_IRQ_INDEX ||
    vdev.irqType === VFIO_PCI_MSI_IRQ_INDEX ||
    vdev.irqType === VFIO_PCI_MSIX_IRQ_INDEX
  );
}

export function irqIs(vdev: Vdev, type: number): boolean {
  return vdev.irqType === type;
}

export function newCtx(): IrqCtx {
  return { trigger: null, masked: false, unmask: virqfdSlot(), mask: virqfdSlot() };
}

export function setIrqType(vdev: Vdev, type: number): void {
  vdev.irqType = type;
  vdev.owner.setIrqType(type);
}

/** A per-(index, action) handler, the kernel's `func`. */
export type SetIrqsFn = (
  vdev: Vdev,
  index: number,
  start: number,
  count: number,
  flags: number,
  data: IrqData,
) => SetResult;
