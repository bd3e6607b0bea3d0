/**
 * ERR (AER) and REQ (device release request), drivers/vfio/pci/vfio_pci_intrs.c's
 * vfio_pci_set_ctx_trigger_single: one trigger each, no enable step, loopback by NONE/BOOL.
 */
import { type EventfdCtx, eventfdCtxFdget, kerr } from '@virq/trigger/internal';
import { ctxTriggerFdBelowMinusOne } from './kernel-profile.js';
import {
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
} from './uapi.js';
import type { IrqData, SetIrqsFn, SetResult, Vdev } from './vdev.js';

type SingleSlot = 'errTrigger' | 'reqTrigger';

export function replaceSingle(vdev: Vdev, which: SingleSlot, index: number, ctx: EventfdCtx | null): void {
  const old = vdev[which];
  vdev[which] = ctx;
  // call_rcu in mainline: readers finish before the old eventfd is released (publish synchronizes)
  vdev.owner.publishTrigger(index, 0, ctx?.desc ?? null, ctx?.pool ?? null);
  old?.put();
}

/**
 * vfio_pci_set_ctx_trigger_single() (mainline with RCU-protected triggers): NONE signals (count 1) or
 * releases (count 0) a bound trigger and is -EINVAL with none bound; BOOL and EVENTFD need count 1;
 * EVENTFD -1 releases, >= 0 binds, any other negative fd is -EINVAL (0 on 6.1: kernel-profile.ts).
 */
function vfioPciSetCtxTriggerSingle(
  vdev: Vdev,
  which: SingleSlot,
  index: number,
  count: number,
  flags: number,
  data: IrqData,
): SetResult {
  // DATA_NONE/DATA_BOOL enables loopback testing
  if (flags & VFIO_IRQ_SET_DATA_NONE) {
    if (!vdev[which]) return kerr('EINVAL', 'no trigger bound');
    if (count) {
      vdev.table.raise(index, 0);
      return 0;
    }
    replaceSingle(vdev, which, index, null);
    return 0;
  }
  if (flags & VFIO_IRQ_SET_DATA_BOOL) {
    if (!count) return kerr('EINVAL');
    if (data.kind === 'bool' && data.bools[0] && vdev[which]) vdev.table.raise(index, 0);
    return 0;
  }
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    if (!count) return kerr('EINVAL');
    if (data.kind !== 'eventfd') return kerr('EINVAL');
    const fd = data.fds[0];
    if (fd === -1) {
      replaceSingle(vdev, which, index, null);
      return 0;
    }
    if (!(typeof fd === 'number' && fd < 0)) {
      const efd = eventfdCtxFdget(fd);
      if ('code' in efd) return efd;
      replaceSingle(vdev, which, index, efd);
      return 0;
    }
    return ctxTriggerFdBelowMinusOne(vdev.kernel);
  }
  return kerr('EINVAL');
}

/** vfio_pci_set_err_trigger(). */
export const vfioPciSetErrTrigger: SetIrqsFn = (vdev, index, start, count, flags, data) => {
  if (index !== VFIO_PCI_ERR_IRQ_INDEX || start !== 0 || count > 1) return kerr('EINVAL');
  return vfioPciSetCtxTriggerSingle(vdev, 'errTrigger', index, count, flags, data);
};

/** vfio_pci_set_req_trigger(). */
export const vfioPciSetReqTrigger: SetIrqsFn = (vdev, index, start, count, flags, data) => {
  if (index !== VFIO_PCI_REQ_IRQ_INDEX || start !== 0 || count > 1) return kerr('EINVAL');
  return vfioPciSetCtxTriggerSingle(vdev, 'reqTrigger', index, count, flags, data);
};
