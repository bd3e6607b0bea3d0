/**
 * SoftDevice: a software PCI function behind a software vfio-pci. The host side is the IrqDevice
 * interface (getIrqInfo / setIrqs, exact to the kernel); the device side raises interrupts: INTx as a
 * level (assert / deassert, with the status bit pci_check_and_unmask_intx reads), MSI and MSI-X as
 * messages, ERR (AER) and REQ as events.
 *
 * SET_IRQS is serialised per device by the kernel's igate mutex. A SoftDevice belongs to the thread
 * that created it and every method runs to completion, which serialises the same way; other threads
 * work through its VectorTable (attach the handle), never through the SoftDevice object.
 */

import { argTypeError, KernelErr, outOfRange, VfioError, virqfdPollHup } from '@virq/trigger/internal';
import type { IrqDevice, IrqInfo, IrqSet } from './device.js';
import { intxAssert, intxConfigWrite, intxDeassert } from './intx.js';
import {
  checkDynamicMsix,
  type KernelProfile,
  type KernelProfileName,
  kernelProfile,
} from './kernel-profile.js';
import { PciFunction } from './pci-function.js';
import {
  checkShape,
  vfioPciIrqsRelease,
  vfioPciSetIrqsIoctl,
  vfioSetIrqsValidateAndPrepare,
} from './set-irqs.js';
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_IRQ_INFO_SIZE,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from './uapi.js';
import type { Extensions, Vdev } from './vdev.js';
import { type RaiseOutcome, ST_ENABLED } from './vector-layout.js';
import { VectorTableOwner } from './vector-owner.js';
import { VectorTable } from './vector-table.js';

/** INTx configuration. */
export interface SoftIntxOptions {
  /** PCI 2.3 INTx masking (DisINTx + Interrupt Status); default true. */
  pci23?: boolean;
  /** An interrupt line is routed to the pin (pdev->irq != 0); default true. false: enable is -ENODEV. */
  routed?: boolean;
  /** EXTENSION: INTx MASK by eventfd (kernel: -ENOTTY). Default false. */
  maskEventfd?: boolean;
}

/** MSI configuration. */
export interface SoftMsiOptions {
  /** Vectors the MSI capability advertises: a power of two, 1..32. */
  vectors: number;
  /** EXTENSION: per-vector MASK/UNMASK with a pending bit, advertised MASKABLE. Default false. */
  maskable?: boolean;
}

/** MSI-X configuration. */
export interface SoftMsixOptions {
  /** Table size, 1..2048. */
  vectors: number;
  /** Dynamic allocation (mainline 6.5+: NORESIZE cleared, vectors added while enabled). Default false. */
  dynamic?: boolean;
  /** EXTENSION: per-vector MASK/UNMASK with a pending bit, advertised MASKABLE. Default false. */
  maskable?: boolean;
}

/** SoftDevice configuration. */
export interface SoftDeviceOptions {
  /**
   * The kernel whose vfio-pci the device answers as (kernel-profile.ts lists every difference and
   * the commit behind it): `'6.1'`, `'6.12'` or `'mainline'`. Default `'mainline'`.
   */
  kernel?: KernelProfileName;
  /** INTx pin; false = no pin (count 0, like a VF or a nointx device). Default: a pin with PCI 2.3. */
  intx?: SoftIntxOptions | boolean;
  /** MSI capability; false = none. Default false. */
  msi?: SoftMsiOptions | false;
  /** MSI-X capability; false = none. Default false. */
  msix?: SoftMsixOptions | false;
  /** PCIe function: has the ERR index. Default false. */
  pcie?: boolean;
  /** REQ index (count 1 in mainline). Default true. */
  req?: boolean;
  /** The platform grants at most this many MSI/MSI-X vectors per enable (models a shortfall). */
  grantVectors?: number;
}

function resolveIntx(o: SoftDeviceOptions['intx']): Required<SoftIntxOptions> | null {
  if (o === false) return null;
  const x = o === undefined || o === true ? {} : o;
  return { pci23: x.pci23 ?? true, routed: x.routed ?? true, maskEventfd: x.maskEventfd ?? false };
}

/** A software PCI function with vfio-pci interrupt semantics. */
export class SoftDevice implements IrqDevice {
  /** The shared per-vector state. */
  readonly vectorTable: VectorTable;
  /** A SoftDevice signals its triggers in this process: SharedEventFd triggers work. */
  readonly sharedTriggers = true;
  /** The kernel profile the device answers as. */
  readonly kernel: KernelProfile;
  private readonly owner: VectorTableOwner;
  private readonly vdev: Vdev;

  constructor(options: SoftDeviceOptions = {}) {
    const kernel = kernelProfile(options.kernel ?? 'mainline');
    const intx = resolveIntx(options.intx);
    const msi = options.msi || null;
    const msix = options.msix || null;
    if (
      msi &&
      (!Number.isInteger(msi.vectors) ||
        msi.vectors < 1 ||
        msi.vectors > 32 ||
        msi.vectors & (msi.vectors - 1))
    ) {
      throw outOfRange('SoftDevice: msi.vectors must be a power of two in 1..32');
    }
    if (msix && (!Number.isInteger(msix.vectors) || msix.vectors < 1 || msix.vectors > 2048)) {
      throw outOfRange('SoftDevice: msix.vectors must be in 1..2048');
    }
    checkDynamicMsix(kernel, !!msix?.dynamic);
    this.kernel = kernel;
    const irqCount = [
      intx ? 1 : 0,
      msi ? msi.vectors : 0,
      msix ? msix.vectors : 0,
      options.pcie ? 1 : 0,
      options.req === false ? 0 : 1,
    ];
    this.vectorTable = VectorTable.create({
      intx: irqCount[0],
      msi: irqCount[1],
      msix: irqCount[2],
      err: irqCount[3],
      req: irqCount[4],
    });
    this.owner = new VectorTableOwner(this.vectorTable);
    const pdev = new PciFunction(
      intx?.pci23 ?? false,
      intx?.routed ?? false,
      options.grantVectors ?? Number.POSITIVE_INFINITY,
      msix ? msix.vectors : 0,
      !!msix?.dynamic,
    );
    const ext: Extensions = {
      msiMask: !!msi?.maskable,
      msixMask: !!msix?.maskable,
      intxMaskEventfd: !!intx?.maskEventfd,
    };
    this.vdev = {
      irqType: VFIO_PCI_NUM_IRQS,
      ctx: new Map(),
      virqDisabled: false,
      pci23: intx?.pci23 ?? false,
      pcie: !!options.pcie,
      errTrigger: null,
      reqTrigger: null,
      msiQmax: 0,
      pdev,
      table: this.vectorTable,
      owner: this.owner,
      intxOutcome: 'unrouted',
      ext,
      vecVirqfds: new Map(),
      irqCount,
      kernel,
    };
    // ERR and REQ have no enable step: their single vector exists as long as the index does
    if (irqCount[3]) this.owner.updateState(VFIO_PCI_ERR_IRQ_INDEX, 0, ST_ENABLED, 0);
    if (irqCount[4]) this.owner.updateState(VFIO_PCI_REQ_IRQ_INDEX, 0, ST_ENABLED, 0);
  }

  /** vfio_pci_get_irq_count(). */
  irqCount(index: number): number {
    return this.vdev.irqCount[index] ?? 0;
  }

  /** VFIO_DEVICE_GET_IRQ_INFO (vfio_pci_ioctl_get_irq_info). */
  getIrqInfo(index: number, argsz = VFIO_IRQ_INFO_SIZE): IrqInfo {
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff || !Number.isInteger(argsz)) {
      throw argTypeError('getIrqInfo: index and argsz must be u32');
    }
    if (argsz < VFIO_IRQ_INFO_SIZE || index >= VFIO_PCI_NUM_IRQS) {
      throw new VfioError('EINVAL', 'VFIO_DEVICE_GET_IRQ_INFO');
    }
    if (index === VFIO_PCI_ERR_IRQ_INDEX && !this.vdev.pcie) {
      throw new VfioError('EINVAL', 'VFIO_DEVICE_GET_IRQ_INFO', 'ERR on a non-PCIe function');
    }
    let flags = VFIO_IRQ_INFO_EVENTFD;
    if (index === VFIO_PCI_INTX_IRQ_INDEX) flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    // has_dyn_msix is false on a kernel without the dynamic MSI-X row (checked at construction)
    else if (index !== VFIO_PCI_MSIX_IRQ_INDEX || !this.vdev.pdev.msixDynamic)
      flags |= VFIO_IRQ_INFO_NORESIZE;
    // EXTENSION: per-vector masking is advertised the way the kernel would, with MASKABLE
    if (index === VFIO_PCI_MSI_IRQ_INDEX && this.vdev.ext.msiMask) flags |= VFIO_IRQ_INFO_MASKABLE;
    if (index === VFIO_PCI_MSIX_IRQ_INDEX && this.vdev.ext.msixMask) flags |= VFIO_IRQ_INFO_MASKABLE;
    return { index, count: this.irqCount(index), flags };
  }

  /** VFIO_DEVICE_SET_IRQS (vfio_pci_ioctl_set_irqs). */
  setIrqs(set: IrqSet): number {
    // The shape first: irqCount's lookup would convert an object `index` to a key (its toString may
    // throw, uncoded) before the validation could say it is not a u32.
    checkShape(set);
    const max = this.irqCount(set.index);
    const data = vfioSetIrqsValidateAndPrepare(set, max);
    if (data instanceof KernelErr) throw new VfioError(data.code, 'VFIO_DEVICE_SET_IRQS', data.detail);
    const ret = vfioPciSetIrqsIoctl(this.vdev, set.flags, set.index, set.start, set.count, data);
    if (ret instanceof KernelErr) throw new VfioError(ret.code, 'VFIO_DEVICE_SET_IRQS', ret.detail);
    return ret;
  }

  // ---- device side ----------------------------------------------------------------------------

  /**
   * The device raises an interrupt. MSI/MSI-X: one message on `vector`. INTx: asserts the line (it stays
   * asserted until {@link deassertIntx}). ERR: an AER error event. REQ: a release request.
   */
  raise(index: number, vector = 0): RaiseOutcome {
    switch (index) {
      case VFIO_PCI_INTX_IRQ_INDEX:
        if (vector !== 0 || this.irqCount(index) === 0) throw outOfRange('raise: no such INTx vector');
        return intxAssert(this.vdev);
      case VFIO_PCI_MSI_IRQ_INDEX:
      case VFIO_PCI_MSIX_IRQ_INDEX:
        if (this.vdev.irqType !== index) {
          // the device cannot send a message its capability does not have enabled
          this.owner.countUnrouted(index, vector);
          return 'unrouted';
        }
        return this.vectorTable.raise(index, vector);
      case VFIO_PCI_ERR_IRQ_INDEX:
      case VFIO_PCI_REQ_IRQ_INDEX:
        return this.vectorTable.raise(index, vector);
      default:
        throw outOfRange(`raise: no IRQ index ${index}`);
    }
  }

  /** Asserts INTx (sets PCI_STATUS_INTERRUPT). Same as raise(INTX). */
  assertIntx(): RaiseOutcome {
    if (this.irqCount(VFIO_PCI_INTX_IRQ_INDEX) === 0) throw outOfRange('assertIntx: no INTx pin');
    return intxAssert(this.vdev);
  }

  /** Deasserts INTx (the driver acknowledged the device). */
  deassertIntx(): void {
    if (this.irqCount(VFIO_PCI_INTX_IRQ_INDEX) === 0) throw outOfRange('deassertIntx: no INTx pin');
    intxDeassert(this.vdev);
  }

  /** True while the device asserts INTx (the Interrupt Status bit). */
  get intxAsserted(): boolean {
    return this.vdev.pdev.level;
  }

  /** The guest writes the INTx Disable bit of PCI_COMMAND (vfio's virq_disabled emulation). */
  writeIntxDisable(disable: boolean): void {
    intxConfigWrite(this.vdev, disable);
  }

  /** The INTx Disable bit as the guest sees it (virq_disabled). */
  get intxDisabled(): boolean {
    return this.vdev.virqDisabled;
  }

  /** The enabled IRQ type (VFIO_PCI_NUM_IRQS when none). */
  get irqType(): number {
    return this.vdev.irqType;
  }

  /** log2 of the MSI vectors last enabled (the virtual MSI capability's queue size). */
  get msiQmax(): number {
    return this.vdev.msiQmax;
  }

  /** Vectors currently allocated for MSI/MSI-X (including ones added dynamically). */
  get allocatedVectors(): number {
    return this.vdev.pdev.allocated + this.vdev.pdev.dynAllocated.size;
  }

  /** INTx status as the hardware sees it, for tests: DisINTx bit and the virtual mask. */
  get intxHw(): { disIntx: boolean; irqDepth: number; masked: boolean } {
    return {
      disIntx: this.vdev.pdev.disIntx,
      irqDepth: this.vdev.pdev.irqDepth,
      masked: this.vdev.ctx.get(0)?.masked ?? false,
    };
  }

  /** True if a virqfd is installed for INTx unmask (or mask). */
  intxVirqfd(which: 'unmask' | 'mask'): boolean {
    const ctx = this.vdev.ctx.get(0);
    return !!ctx && virqfdPollHup(ctx[which]) !== null;
  }

  /**
   * True if a virqfd is installed for an MSI/MSI-X vector's mask (or unmask) eventfd (the mask
   * extension). Like {@link intxVirqfd} it first catches up with a kernel eventfd closed meanwhile
   * (its lazy POLLHUP, and the wake-up a write before the close owed), so what it reports is what
   * the kernel would hold by now.
   */
  vectorVirqfd(vector: number, which: 'unmask' | 'mask'): boolean {
    const slots = this.vdev.vecVirqfds.get(vector);
    return !!slots && virqfdPollHup(slots[which]) !== null;
  }

  /**
   * VFIO_DEVICE_RESET (function-level reset): the device stops asserting INTx and forgets its interrupt
   * causes. Like the kernel's reset, it leaves the SET_IRQS configuration alone.
   */
  reset(): void {
    if (this.irqCount(VFIO_PCI_INTX_IRQ_INDEX)) intxDeassert(this.vdev);
  }

  /**
   * Closing the device fd (vfio_pci_core_close_device): disables the enabled IRQ type, releases the ERR
   * and REQ triggers and every virqfd, clears virq_disabled. The device can be used again afterwards.
   */
  close(): void {
    vfioPciIrqsRelease(this.vdev);
    this.reset();
  }
}
