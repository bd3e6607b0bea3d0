/**
 * MSI and MSI-X, drivers/vfio/pci/vfio_pci_intrs.c's vfio_msi_* and vfio_pci_set_msi_trigger: enable
 * with a vector count (a positive return is the platform's shortfall), per-vector trigger binding
 * with the kernel's unwind, dynamic MSI-X allocation, loopback, and the opt-in per-vector
 * MASK/UNMASK extension.
 */
import {
  type EventfdLike,
  eventfdCtxFdget,
  type KernelErr,
  kerr,
  virqfdDisable,
  virqfdEnable,
  virqfdPollHup,
  virqfdSlot,
} from '@virq/trigger/internal';
import { msiLoopbackRange, msiSetBlockRange } from './kernel-profile.js';
import {
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
} from './uapi.js';
import type { SetIrqsFn, SetResult, Vdev } from './vdev.js';
import { irqIs, isIrqNone, newCtx, setIrqType } from './vdev.js';
import { ST_ENABLED, ST_MASKED, ST_PENDING } from './vector-layout.js';

/** vfio_msi_enable(): allocate `nvec` vectors; a positive return is the number the platform has. */
function vfioMsiEnable(vdev: Vdev, nvec: number, msix: boolean): SetResult {
  if (!isIrqNone(vdev)) return kerr('EINVAL');
  // return the number of supported vectors if we can't get all:
  const ret = vdev.pdev.allocIrqVectors(nvec);
  if (typeof ret !== 'number') return ret;
  if (ret < nvec) {
    vdev.pdev.freeIrqVectors();
    return ret;
  }
  const index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
  setIrqType(vdev, index);
  for (let v = 0; v < vdev.table.vectors(index); v++) {
    if (v < nvec) vdev.owner.updateState(index, v, ST_ENABLED, ST_MASKED | ST_PENDING);
  }
  // Compute the virtual hardware field for max msi vectors: the log base 2 of the number of vectors.
  if (!msix) vdev.msiQmax = fls(nvec * 2 - 1) - 1;
  return 0;
}

function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/**
 * vfio_msi_alloc_irq(): the vector's Linux IRQ, allocating one on demand with dynamic MSI-X. Where is
 * the matching free? Allocated vectors form a cache until MSI/MSI-X is disabled.
 */
function vfioMsiAllocIrq(vdev: Vdev, vector: number, msix: boolean): 0 | KernelErr {
  if (vdev.pdev.hasIrqVector(vector)) return 0;
  if (!msix || !vdev.pdev.msixDynamic) return kerr('EINVAL', `vector ${vector} is not allocated`);
  const r = vdev.pdev.msixAllocIrqAt(vector);
  if (r === 0) vdev.owner.updateState(VFIO_PCI_MSIX_IRQ_INDEX, vector, ST_ENABLED, ST_MASKED | ST_PENDING);
  return r;
}

/**
 * vfio_msi_set_vector_signal(): free the vector's old trigger if any, then (fd >= 0) bind a new one.
 * Note the kernel's order: the old trigger is gone before the new fd is checked, so a bad fd leaves the
 * vector without a trigger.
 */
function vfioMsiSetVectorSignal(vdev: Vdev, vector: number, fd: EventfdLike, msix: boolean): SetResult {
  const index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
  let ctx = vdev.ctx.get(vector);
  let irqKnown = false;
  if (ctx) {
    // free_irq() waits for a running handler (synchronize) before the eventfd reference is dropped.
    vdev.owner.publishTrigger(index, vector, null, null);
    ctx.trigger?.put();
    vdev.ctx.delete(vector);
    irqKnown = true; // the interrupt stays allocated; it is freed at MSI/MSI-X disable
  }
  if (typeof fd === 'number' && fd < 0) return 0;
  if (!irqKnown) {
    const r = vfioMsiAllocIrq(vdev, vector, msix);
    if (r !== 0) return r;
  }
  const trigger = eventfdCtxFdget(fd);
  if ('code' in trigger) return trigger;
  ctx = newCtx();
  ctx.trigger = trigger;
  vdev.ctx.set(vector, ctx);
  vdev.owner.publishTrigger(index, vector, trigger.desc, trigger.pool);
  return 0;
}

/** vfio_msi_set_block(): on the first failure, unwind [start, failing vector] to "no trigger". */
function vfioMsiSetBlock(
  vdev: Vdev,
  start: number,
  count: number,
  fds: readonly EventfdLike[] | null,
  msix: boolean,
): SetResult {
  // 6.1's num_ctx (the vectors of the enabling call) bounds the block before any fd is looked at
  const range = msiSetBlockRange(vdev.kernel, start, count, vdev.pdev.allocated);
  if (range) return range;
  let ret: SetResult = 0;
  let i = 0;
  let j = start;
  for (; i < count && ret === 0; i++, j++) {
    const fd = fds ? fds[i] : -1;
    ret = vfioMsiSetVectorSignal(vdev, j, fd, msix);
  }
  if (ret !== 0) {
    for (let k = start; k < j; k++) vfioMsiSetVectorSignal(vdev, k, -1, msix);
  }
  return ret;
}

/** vfio_msi_disable(). */
export function vfioMsiDisable(vdev: Vdev, msix: boolean): void {
  const index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
  for (const [i, ctx] of [...vdev.ctx]) {
    virqfdDisable(ctx.unmask);
    virqfdDisable(ctx.mask);
    vfioMsiSetVectorSignal(vdev, i, -1, msix);
  }
  for (const slots of vdev.vecVirqfds.values()) {
    virqfdDisable(slots.unmask);
    virqfdDisable(slots.mask);
  }
  vdev.vecVirqfds.clear();
  vdev.pdev.freeIrqVectors();
  for (let v = 0; v < vdev.table.vectors(index); v++) vdev.owner.resetVector(index, v);
  setIrqType(vdev, VFIO_PCI_NUM_IRQS);
}

// ---- SET_IRQS

/** vfio_pci_set_msi_trigger() (MSI and MSI-X). */
export const vfioPciSetMsiTrigger: SetIrqsFn = (vdev, index, start, count, flags, data) => {
  const msix = index === VFIO_PCI_MSIX_IRQ_INDEX;
  if (irqIs(vdev, index) && !count && flags & VFIO_IRQ_SET_DATA_NONE) {
    vfioMsiDisable(vdev, msix);
    return 0;
  }
  if (!(irqIs(vdev, index) || isIrqNone(vdev))) return kerr('EINVAL');
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    const fds = data.kind === 'eventfd' ? data.fds : null;
    if (vdev.irqType === index) return vfioMsiSetBlock(vdev, start, count, fds, msix);
    let ret = vfioMsiEnable(vdev, start + count, msix);
    if (ret !== 0) return ret;
    ret = vfioMsiSetBlock(vdev, start, count, fds, msix);
    if (ret !== 0) vfioMsiDisable(vdev, msix);
    return ret;
  }
  if (!irqIs(vdev, index)) return kerr('EINVAL');
  const range = msiLoopbackRange(vdev.kernel, start, count, vdev.pdev.allocated);
  if (range) return range;
  for (let i = start; i < start + count; i++) {
    const ctx = vdev.ctx.get(i);
    if (!ctx) continue;
    // Loopback goes through the same path as a device interrupt, so with the mask extension a masked
    // vector holds it; without the extension no vector is ever masked and this is eventfd_signal().
    if (flags & VFIO_IRQ_SET_DATA_NONE) {
      vdev.table.raise(index, i);
    } else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
      if (data.kind === 'bool' && data.bools[i - start]) vdev.table.raise(index, i);
    }
  }
  return 0;
};

/**
 * EXTENSION: MSI/MSI-X ACTION_MASK / ACTION_UNMASK per vector, reachable only when the device enables
 * it (otherwise the dispatch table leaves the pair empty: -ENOTTY, "XXX Need masking support
 * exported"). Same shape as the INTx pair: the index must be enabled, NONE/BOOL act now, EVENTFD
 * installs a virqfd per vector (fd < 0 removes it). Unmask re-signals a held interrupt exactly once.
 */
const vfioPciSetMsiMaskAction =
  (mask: boolean): SetIrqsFn =>
  (vdev, index, start, count, flags, data) => {
    if (!irqIs(vdev, index)) return kerr('EINVAL');
    const act = (v: number): void => {
      if (mask) vdev.table.mask(index, v);
      else vdev.table.unmask(index, v);
    };
    for (let v = start; v < start + count; v++) {
      if (!vdev.pdev.hasIrqVector(v)) return kerr('EINVAL', `vector ${v} is not allocated`);
    }
    if (flags & VFIO_IRQ_SET_DATA_NONE) {
      for (let i = 0; i < count; i++) act(start + i);
    } else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
      if (data.kind !== 'bool') return kerr('EINVAL');
      for (let i = 0; i < count; i++) if (data.bools[i]) act(start + i);
    } else if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
      if (data.kind !== 'eventfd') return kerr('EINVAL');
      // all-or-nothing: check every fd and every slot before installing any virqfd
      for (let i = 0; i < count; i++) {
        const fd = data.fds[i];
        if (typeof fd === 'number' && fd < 0) continue;
        const t = eventfdCtxFdget(fd);
        if ('code' in t) return t;
        t.put();
        const slots = vdev.vecVirqfds.get(start + i);
        if (slots && virqfdPollHup(mask ? slots.mask : slots.unmask)) return kerr('EBUSY');
      }
      for (let i = 0; i < count; i++) {
        const v = start + i;
        let slots = vdev.vecVirqfds.get(v);
        if (!slots) {
          slots = { mask: virqfdSlot(), unmask: virqfdSlot() };
          vdev.vecVirqfds.set(v, slots);
        }
        const slot = mask ? slots.mask : slots.unmask;
        const fd = data.fds[i];
        if (typeof fd === 'number' && fd < 0) {
          virqfdDisable(slot);
          continue;
        }
        const r = virqfdEnable(
          () => {
            act(v);
            return 0;
          },
          null,
          slot,
          fd,
        );
        if (r !== 0) return r;
      }
    }
    return 0;
  };

/** EXTENSION: MSI/MSI-X ACTION_MASK. */
export const vfioPciSetMsiMask: SetIrqsFn = vfioPciSetMsiMaskAction(true);

/** EXTENSION: MSI/MSI-X ACTION_UNMASK. */
export const vfioPciSetMsiUnmask: SetIrqsFn = vfioPciSetMsiMaskAction(false);
