/**
 * The emulated PCI function and the platform beneath vfio-pci: what `struct pci_dev`, the PCI core's
 * INTx/MSI helpers and the interrupt controller do in the kernel. vfio_pci_intrs.c (intx.ts, msi.ts) calls
 * these exactly where the kernel calls their namesakes, so the IRQ logic above stays line-for-line.
 *
 * INTx is a level: `level` is the Interrupt Status bit of PCI_STATUS (what pci_check_and_mask_intx
 * reads), `disIntx` the INTx Disable bit of PCI_COMMAND, `irqDepth` the irqchip's disable depth (used
 * for devices without PCI 2.3 masking). While a handler is registered, the level is asserted and
 * nothing masks it, the interrupt controller calls the handler — again after every unmask, as a level
 * interrupt does. In the kernel an unmask inside a spinlock-held section delivers only after the lock is
 * dropped; here the helpers only change state and intx.ts calls deliver() where the lock would drop.
 */
import { type KernelErr, kerr } from '@virq/trigger/internal';

/** Device-side INTx and MSI/MSI-X allocation state. */
export class PciFunction {
  /** PCI_STATUS_INTERRUPT: the device asserts INTx. */
  level = false;
  /** PCI_COMMAND_INTX_DISABLE as set on the physical device. */
  disIntx = false;
  /** disable_irq() depth of the INTx line (non-PCI-2.3 masking). */
  irqDepth = 0;
  /** The registered INTx handler (request_irq), or null. */
  intxHandler: (() => boolean) | null = null;
  /** Vectors allocated by pci_alloc_irq_vectors (0 = MSI/MSI-X disabled). */
  allocated = 0;
  /** Vectors allocated on demand with pci_msix_alloc_irq_at (dynamic MSI-X). */
  readonly dynAllocated = new Set<number>();
  private delivering = false;
  private deliverQueued = false;

  constructor(
    /** The function supports PCI 2.3 INTx masking (DisINTx + status). */
    readonly pci23: boolean,
    /** An interrupt line is routed (pdev->irq != 0). */
    readonly irqRouted: boolean,
    /** The platform grants at most this many vectors per allocation (models shortfalls). */
    readonly grantVectors: number,
    /** MSI-X table size. */
    readonly msixTableSize: number,
    /** pci_msix_can_alloc_dyn(). */
    readonly msixDynamic: boolean,
  ) {}

  /** pci_intx(pdev, enable): writes the physical DisINTx bit. */
  pciIntx(enable: boolean): void {
    this.disIntx = !enable;
  }

  /** pci_check_and_mask_intx(): if the device asserts INTx, set DisINTx and return true. */
  checkAndMaskIntx(): boolean {
    if (!this.level) return false;
    this.disIntx = true;
    return true;
  }

  /** pci_check_and_unmask_intx(): unmask only if no interrupt is pending; true if unmasked. */
  checkAndUnmaskIntx(): boolean {
    if (this.level) return false;
    this.disIntx = false;
    return true;
  }

  /** disable_irq_nosync(pdev->irq). */
  disableIrq(): void {
    this.irqDepth++;
  }

  /** enable_irq(pdev->irq): a level still asserted fires again at once. */
  enableIrq(): void {
    if (this.irqDepth > 0) this.irqDepth--;
  }

  /** request_irq(); `autoEnable` false is IRQF_NO_AUTOEN (the line starts disabled). */
  requestIrq(handler: () => boolean, autoEnable: boolean): void {
    this.intxHandler = handler;
    this.irqDepth = autoEnable ? 0 : 1;
  }

  /** free_irq(). */
  freeIrq(): void {
    this.intxHandler = null;
    this.irqDepth = 0;
  }

  /** True if an asserted level would reach the handler right now. */
  intxDeliverable(): boolean {
    return this.intxHandler !== null && this.level && !this.disIntx && this.irqDepth === 0;
  }

  /**
   * The interrupt controller: while the level reaches a handler, call it. A handler that does not mask
   * (IRQ_NONE on a shared line) would be called forever by real hardware; we call it once.
   */
  deliver(): boolean {
    if (this.delivering || !this.intxDeliverable()) return false;
    this.delivering = true;
    try {
      return this.intxHandler!();
    } finally {
      this.delivering = false;
    }
  }

  /**
   * A level that an unmask let through reaches the handler again as a new hardware interrupt would:
   * later, from the event loop (a macrotask), coalesced to one pending delivery. Never a microtask: with
   * the INTx trigger also the unmask eventfd, deliver → signal → unmask → deliver is a loop the kernel
   * runs through its workqueue; as a microtask chain it never let the event loop turn again (found by
   * the fuzzer at seed 7, op ~500k; virqfd-storm.test.ts).
   */
  deliverLater(): void {
    if (this.deliverQueued) return;
    this.deliverQueued = true;
    setImmediate(() => {
      this.deliverQueued = false;
      this.deliver();
    });
  }

  /**
   * pci_alloc_irq_vectors(pdev, 1, nvec, PCI_IRQ_MSI or MSIX): the number allocated (<= nvec), or
   * -ERANGE for nvec < 1, -ENOSPC when the platform grants none.
   */
  allocIrqVectors(nvec: number): number | KernelErr {
    if (nvec < 1) return kerr('ERANGE', 'pci_alloc_irq_vectors: max_vecs < min_vecs');
    const got = Math.min(nvec, this.grantVectors);
    if (got < 1) return kerr('ENOSPC', 'pci_alloc_irq_vectors: no vectors');
    this.allocated = got;
    return got;
  }

  /** pci_free_irq_vectors(). */
  freeIrqVectors(): void {
    this.allocated = 0;
    this.dynAllocated.clear();
  }

  /** pci_irq_vector(): true if the vector has a Linux IRQ. */
  hasIrqVector(vector: number): boolean {
    return vector < this.allocated || this.dynAllocated.has(vector);
  }

  /** pci_msix_alloc_irq_at(): allocates one more MSI-X vector while enabled. */
  msixAllocIrqAt(vector: number): 0 | KernelErr {
    if (vector >= this.msixTableSize) return kerr('ENOSPC', 'pci_msix_alloc_irq_at');
    this.dynAllocated.add(vector);
    return 0;
  }
}
