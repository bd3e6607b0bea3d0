/**
 * INTx, drivers/vfio/pci/vfio_pci_intrs.c's vfio_intx_* and vfio_pci_set_intx_*: the level, its
 * automask (DisINTx with PCI 2.3, disable_irq without), the virtual INTx Disable bit, the unmask
 * eventfd (a virqfd) and the device side (assert / deassert). Other threads see INTx through the
 * vector table; everything here runs on the device's thread.
 */
import {
  type EventfdCtx,
  eventfdCtxFdget,
  kerr,
  virqfdDisable,
  virqfdEnable,
  virqfdFlushThread,
} from '@virq/trigger/internal';
import {
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
} from './uapi.js';
import {
  INTX,
  type IrqCtx,
  type IrqData,
  isIntx,
  isIrqNone,
  newCtx,
  type SetIrqsFn,
  type SetResult,
  setIrqType,
  type Vdev,
} from './vdev.js';
import { type RaiseOutcome, ST_ENABLED, ST_LEVEL, ST_MASKED, ST_PENDING } from './vector-layout.js';

/**
 * vfio_send_intx_eventfd(): signal the INTx trigger if INTx is enabled and not virtually disabled.
 * An interrupt held by the mask (ST_PENDING) goes out now without being counted twice.
 */
export function vfioSendIntxEventfd(vdev: Vdev): RaiseOutcome {
  const ctx = vdev.ctx.get(0);
  if (isIntx(vdev) && !vdev.virqDisabled && ctx?.trigger) {
    const prev = vdev.owner.updateState(INTX, 0, 0, ST_PENDING);
    if (!(prev & ST_PENDING)) vdev.owner.countRaise(INTX, 0);
    vdev.table.signalTrigger(INTX, 0);
    return 'signalled';
  }
  if (vdev.table.vectors(INTX) > 0) vdev.owner.countUnrouted(INTX, 0);
  return 'unrouted';
}

function setIntxMasked(vdev: Vdev, ctx: IrqCtx, masked: boolean): void {
  ctx.masked = masked;
  if (masked) vdev.owner.updateState(INTX, 0, ST_MASKED, 0);
  else vdev.owner.updateState(INTX, 0, 0, ST_MASKED);
}

/** __vfio_pci_intx_mask(): returns true if ctx->masked changed. */
export function vfioPciIntxMaskLocked(vdev: Vdev): boolean {
  const pdev = vdev.pdev;
  // Masking can come from interrupt, ioctl, or config space via INTx disable. The latter means this can
  // get called even when not using intx delivery: then just make the physical bit follow the virtual.
  if (!isIntx(vdev)) {
    if (vdev.pci23) pdev.pciIntx(false);
    return false;
  }
  const ctx = vdev.ctx.get(0);
  if (!ctx) return false;
  if (!ctx.masked) {
    // Can't use check_and_mask here because we always want to mask, not just when something is pending.
    if (vdev.pci23) pdev.pciIntx(false);
    else pdev.disableIrq();
    setIntxMasked(vdev, ctx, true);
    return true;
  }
  return false;
}

/**
 * vfio_pci_intx_unmask_handler(): also the virqfd handler, so it must not signal eventfds itself:
 * it returns 1 when the trigger must be re-sent (PCI 2.3: the device still asserts the line, so
 * unmasking would fire at once; re-sending the trigger instead saves that round trip).
 */
export function vfioPciIntxUnmaskHandler(vdev: Vdev): number {
  const pdev = vdev.pdev;
  // Unmasking comes from ioctl or config, so again, have the physical bit follow the virtual.
  if (!isIntx(vdev)) {
    if (vdev.pci23) pdev.pciIntx(true);
    return 0;
  }
  const ctx = vdev.ctx.get(0);
  if (!ctx) return 0;
  let ret = 0;
  if (ctx.masked && !vdev.virqDisabled) {
    if (vdev.pci23) {
      if (!pdev.checkAndUnmaskIntx()) ret = 1;
    } else {
      pdev.enableIrq();
    }
    setIntxMasked(vdev, ctx, ret > 0);
  }
  return ret;
}

/** __vfio_pci_intx_unmask(). */
export function vfioPciIntxUnmaskLocked(vdev: Vdev): void {
  if (vfioPciIntxUnmaskHandler(vdev) > 0) vfioSendIntxEventfd(vdev);
  // irqlock dropped: a level the unmask let through reaches the handler now
  vdev.pdev.deliver();
}

/** vfio_intx_handler(): the INTx interrupt. Returns true for IRQ_HANDLED. */
function vfioIntxHandler(vdev: Vdev): boolean {
  const ctx = vdev.ctx.get(0);
  if (!ctx) return false;
  let handled = false;
  if (!vdev.pci23) {
    vdev.pdev.disableIrq();
    setIntxMasked(vdev, ctx, true);
    handled = true;
  } else if (!ctx.masked /* may be shared */ && vdev.pdev.checkAndMaskIntx()) {
    setIntxMasked(vdev, ctx, true);
    handled = true;
  }
  if (handled) vdev.intxOutcome = vfioSendIntxEventfd(vdev);
  return handled;
}

/** vfio_intx_enable(): INTx on, with `trigger` (may be null). */
function vfioIntxEnable(vdev: Vdev, trigger: EventfdCtx | null): SetResult {
  const pdev = vdev.pdev;
  if (!isIrqNone(vdev)) return kerr('EINVAL');
  if (!pdev.irqRouted) return kerr('ENODEV', 'no INTx line routed (pdev->irq == 0)');
  const ctx = newCtx();
  vdev.ctx.set(0, ctx);
  ctx.trigger = trigger;
  // Fill the initial masked state based on virq_disabled. Devices supporting DisINTx reflect it in the
  // physical bit; devices without it request the IRQ disabled (IRQF_NO_AUTOEN) when masked.
  ctx.masked = vdev.virqDisabled;
  if (vdev.pci23) pdev.pciIntx(!ctx.masked);
  // irq_type must be stable while the IRQ handler is registered, so it is set before request_irq().
  setIrqType(vdev, VFIO_PCI_INTX_IRQ_INDEX);
  vdev.owner.updateState(
    INTX,
    0,
    ST_ENABLED | (ctx.masked ? ST_MASKED : 0),
    ST_PENDING | (ctx.masked ? 0 : ST_MASKED),
  );
  vdev.owner.publishTrigger(INTX, 0, trigger?.desc ?? null, trigger?.pool ?? null);
  pdev.requestIrq(() => vfioIntxHandler(vdev), vdev.pci23 || !ctx.masked);
  // A level already asserted before enable is held if masked, else it fires now.
  if (pdev.level && ctx.masked && trigger) holdIntx(vdev);
  pdev.deliver();
  return 0;
}

/** vfio_intx_set_signal(): swap the trigger of enabled INTx. */
function vfioIntxSetSignal(vdev: Vdev, trigger: EventfdCtx | null): SetResult {
  const ctx = vdev.ctx.get(0);
  if (!ctx) return kerr('EINVAL');
  const old = ctx.trigger;
  ctx.trigger = trigger;
  // Releasing an old ctx requires synchronizing in-flight users (synchronize_irq is inside publish)
  vdev.owner.publishTrigger(INTX, 0, trigger?.desc ?? null, trigger?.pool ?? null);
  if (old) {
    virqfdFlushThread(ctx.unmask);
    old.put();
  }
  return 0;
}

/** vfio_intx_disable(). */
export function vfioIntxDisable(vdev: Vdev): void {
  const ctx = vdev.ctx.get(0);
  if (ctx) {
    virqfdDisable(ctx.unmask);
    virqfdDisable(ctx.mask);
    vdev.pdev.freeIrq();
    vdev.owner.publishTrigger(INTX, 0, null, null);
    ctx.trigger?.put();
    ctx.trigger = null;
    vdev.ctx.delete(0);
  }
  if (vdev.table.vectors(INTX) > 0) vdev.owner.resetVector(INTX, 0);
  setIrqType(vdev, VFIO_PCI_NUM_IRQS);
}

/** Marks a level asserted while masked as held: counted once, signalled when it is re-sent. */
function holdIntx(vdev: Vdev): void {
  const prev = vdev.owner.updateState(INTX, 0, ST_PENDING, 0);
  if (!(prev & ST_PENDING)) vdev.owner.countRaise(INTX, 0);
}

// ---- device side of INTx ----

/** The device asserts INTx (sets its Interrupt Status bit). Returns what became of the interrupt. */
export function intxAssert(vdev: Vdev): RaiseOutcome {
  const pdev = vdev.pdev;
  const hasVector = vdev.table.vectors(INTX) > 0;
  const routed = isIntx(vdev) && !!vdev.ctx.get(0)?.trigger && !vdev.virqDisabled;
  if (pdev.level) {
    // the line is already high: this cause rides on the interrupt already raised
    if (!routed) {
      if (hasVector) vdev.owner.countUnrouted(INTX, 0);
      return 'unrouted';
    }
    vdev.owner.countCoalescedRaise(INTX, 0);
    return 'coalesced';
  }
  pdev.level = true;
  if (hasVector) vdev.owner.updateState(INTX, 0, ST_LEVEL, 0);
  if (pdev.intxDeliverable()) {
    // deliver() runs vfio_intx_handler synchronously, which records what became of the interrupt
    vdev.intxOutcome = 'unrouted';
    pdev.deliver();
    return vdev.intxOutcome;
  }
  if (routed) {
    holdIntx(vdev);
    return 'held';
  }
  if (hasVector) vdev.owner.countUnrouted(INTX, 0);
  return 'unrouted';
}

/** The device deasserts INTx. A held (never signalled) interrupt is withdrawn: counted as dropped. */
export function intxDeassert(vdev: Vdev): void {
  vdev.pdev.level = false;
  if (vdev.table.vectors(INTX) === 0) return;
  const prev = vdev.owner.updateState(INTX, 0, 0, ST_LEVEL | ST_PENDING);
  if (prev & ST_PENDING) vdev.owner.dropHeld(INTX, 0);
}

/** The guest writes PCI_COMMAND's INTx Disable bit (vfio_basic_config_write's emulation). */
export function intxConfigWrite(vdev: Vdev, disable: boolean): void {
  if (disable && !vdev.virqDisabled) {
    vdev.virqDisabled = true;
    vfioPciIntxMaskLocked(vdev);
  } else if (!disable && vdev.virqDisabled) {
    vdev.virqDisabled = false;
    vfioPciIntxUnmaskLocked(vdev);
  }
}

// ---- SET_IRQS: one function per action

/**
 * The DATA_EVENTFD arm INTx UNMASK and (extension) MASK share: an fd >= 0 installs a virqfd in the
 * slot (EBADF / EINVAL / EBUSY from vfio_virqfd_enable), a negative fd removes it.
 */
function intxVirqfdSet(
  vdev: Vdev,
  data: IrqData,
  which: 'mask' | 'unmask',
  handler: Parameters<typeof virqfdEnable>[0],
  thread: Parameters<typeof virqfdEnable>[1],
): SetResult {
  const ctx = vdev.ctx.get(0);
  if (!ctx || data.kind !== 'eventfd') return kerr('EINVAL');
  const fd = data.fds[0];
  if (typeof fd === 'number' && fd < 0) {
    virqfdDisable(ctx[which]);
    return 0;
  }
  return virqfdEnable(handler, thread, ctx[which], fd);
}

/**
 * What vfio_pci_set_intx_unmask() and vfio_pci_set_intx_mask() share: INTx must be on with exactly
 * vector 0, NONE acts now, a true BOOL acts now; EVENTFD is each action's own (a virqfd).
 */
function intxMaskAction(
  act: (vdev: Vdev) => void,
  eventfd: (vdev: Vdev, data: IrqData) => SetResult,
): SetIrqsFn {
  return (vdev, _index, start, count, flags, data) => {
    if (!isIntx(vdev) || start !== 0 || count !== 1) return kerr('EINVAL');
    if (flags & VFIO_IRQ_SET_DATA_NONE) {
      act(vdev);
    } else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
      if (data.kind === 'bool' && data.bools[0]) act(vdev);
    } else if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
      return eventfd(vdev, data);
    }
    return 0;
  };
}

/** vfio_pci_set_intx_unmask(). */
export const vfioPciSetIntxUnmask: SetIrqsFn = intxMaskAction(vfioPciIntxUnmaskLocked, (vdev, data) =>
  intxVirqfdSet(
    vdev,
    data,
    'unmask',
    () => {
      const r = vfioPciIntxUnmaskHandler(vdev);
      vdev.pdev.deliverLater();
      return r;
    },
    () => {
      vfioSendIntxEventfd(vdev);
    },
  ),
);

/** vfio_pci_set_intx_mask(). EVENTFD is -ENOTTY ("XXX implement me") unless the extension is on. */
export const vfioPciSetIntxMask: SetIrqsFn = intxMaskAction(vfioPciIntxMaskLocked, (vdev, data) => {
  if (!vdev.ext.intxMaskEventfd) return kerr('ENOTTY', 'XXX implement me');
  // EXTENSION: a virqfd whose handler masks (and never needs the deferred thread)
  return intxVirqfdSet(
    vdev,
    data,
    'mask',
    () => {
      vfioPciIntxMaskLocked(vdev);
      return 0;
    },
    null,
  );
});

/** vfio_pci_set_intx_trigger(). */
export const vfioPciSetIntxTrigger: SetIrqsFn = (vdev, _index, start, count, flags, data) => {
  if (isIntx(vdev) && !count && flags & VFIO_IRQ_SET_DATA_NONE) {
    vfioIntxDisable(vdev);
    return 0;
  }
  if (!(isIntx(vdev) || isIrqNone(vdev)) || start !== 0 || count !== 1) return kerr('EINVAL');
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    if (data.kind !== 'eventfd') return kerr('EINVAL');
    const fd = data.fds[0];
    let trigger: EventfdCtx | null = null;
    if (!(typeof fd === 'number' && fd < 0)) {
      const t = eventfdCtxFdget(fd);
      if ('code' in t) return t;
      trigger = t;
    }
    const ret = isIntx(vdev) ? vfioIntxSetSignal(vdev, trigger) : vfioIntxEnable(vdev, trigger);
    if (ret !== 0 && trigger) trigger.put();
    return ret;
  }
  if (!isIntx(vdev)) return kerr('EINVAL');
  if (flags & VFIO_IRQ_SET_DATA_NONE) {
    vfioSendIntxEventfd(vdev);
  } else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
    if (data.kind === 'bool' && data.bools[0]) vfioSendIntxEventfd(vdev);
  }
  return 0;
};
