/**
 * Binding: the SET_IRQS calls that attach a dispatcher's triggers to the device's vectors (DATA_EVENTFD
 * | ACTION_TRIGGER), and for INTx its unmask eventfd (ACTION_UNMASK, the kernel's virqfd). Each pushes
 * its unbind onto `closers` before its first SET_IRQS, so a call that fails part way leaves nothing
 * bound.
 */
import {
  type IrqDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
} from '@virq/core';

/**
 * SET_IRQS: one trigger per serviced vector; other vectors in the range are left alone. Returns 0, or
 * the positive "vectors available" of the first call the device could not satisfy (an MSI/MSI-X
 * shortfall): nothing after it is bound, and its unbind is already in `closers`.
 */
export function bindTriggers(
  device: IrqDevice,
  index: number,
  vectors: readonly number[],
  triggers: readonly unknown[],
  closers: (() => void)[],
): number {
  const table = device.vectorTable;
  const enabled = table.irqType === index;
  const byVector = new Map<number, unknown>();
  for (let i = 0; i < vectors.length; i++) byVector.set(vectors[i], triggers[i]);
  const sorted = [...vectors].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  if (!enabled) {
    // Enabling takes start + count vectors at once (vfio_msi_enable), so one call covers them all;
    // gaps get -1 (no trigger).
    runs.push([sorted[0], sorted[sorted.length - 1]]);
  } else {
    for (const v of sorted) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === v - 1) last[1] = v;
      else runs.push([v, v]);
    }
  }
  // The unbind step is registered before the first SET_IRQS and covers the runs bound so far, so a
  // run that fails leaves none of the earlier ones bound.
  let done = 0;
  closers.push(() => {
    if (done === 0) return;
    if (!enabled) {
      device.setIrqs({
        flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        index,
        start: 0,
        count: 0,
      });
    } else {
      for (const [start, end] of runs.slice(0, done)) {
        device.setIrqs({
          flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
          index,
          start,
          count: end - start + 1,
          data: new Int32Array(end - start + 1).fill(-1),
        });
      }
    }
  });
  for (const [start, end] of runs) {
    const data = [];
    for (let v = start; v <= end; v++) data.push(byVector.get(v) ?? -1);
    const r = device.setIrqs({
      flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
      index,
      start,
      count: end - start + 1,
      data: data as never,
    });
    done++;
    if (r > 0) return r;
  }
  return 0;
}

/**
 * INTx: binds the unmask eventfd (ACTION_UNMASK | DATA_EVENTFD, the kernel's virqfd). A write from any
 * thread unmasks the automasked line without a SET_IRQS on this thread.
 */
export function bindUnmask(device: IrqDevice, efd: unknown, closers: (() => void)[]): void {
  const unmask = (data: unknown) =>
    device.setIrqs({
      flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
      index: VFIO_PCI_INTX_IRQ_INDEX,
      start: 0,
      count: 1,
      data: [data] as never,
    });
  unmask(efd);
  // Runs before the trigger is unbound (closers run in reverse).
  closers.push(() => {
    unmask(-1);
  });
}
