/**
 * VfioDevice: the IrqDevice interface over a real vfio-pci device. Every call goes to the kernel's
 * ioctl, which does its own validation; this class only converts arguments (eventfd objects to fd
 * numbers), turns the addon's Node-style errors into VfioError, and mirrors the result into a
 * VectorTable so that dispatch workers see which vectors are enabled and which eventfd each one
 * signals. The kernel raises these interrupts itself: the table counts them when they are consumed
 * (`external`), not when they happen.
 */

import {
  type IrqDevice,
  type IrqInfo,
  type IrqSet,
  ST_ENABLED,
  ST_EXTERNAL,
  VectorTable,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '@virq/core';
import { checkShape, impliedArgsz, VectorTableOwner } from '@virq/core/internal';
import {
  ERRNO,
  type ErrnoCode,
  loadNativeSync,
  SharedEventFd,
  VfioError,
  VirqError,
} from '@virq/trigger/internal';

/** The two ioctls, as the native addon exposes them for a device fd. */
export interface VfioDeviceBackend {
  getIrqInfo(index: number, argsz?: number): IrqInfo;
  setIrqs(
    flags: number,
    index: number,
    start: number,
    count: number,
    data?: Int32Array | Uint8Array,
    argsz?: number,
  ): number;
}

function toVfioError(err: unknown, syscall: 'VFIO_DEVICE_SET_IRQS' | 'VFIO_DEVICE_GET_IRQ_INFO'): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code in ERRNO)
    return new VfioError(code as ErrnoCode, syscall, undefined, { cause: err });
  return err;
}

/** A real vfio-pci device's interrupts. */
export class VfioDevice implements IrqDevice {
  readonly vectorTable: VectorTable;
  /** The kernel signals a vfio device's triggers: kernel eventfds only. */
  readonly sharedTriggers = false;
  private readonly owner: VectorTableOwner;

  constructor(private readonly backend: VfioDeviceBackend) {
    const count = (i: number): number => {
      try {
        return backend.getIrqInfo(i).count;
      } catch {
        return 0; // e.g. ERR on a non-PCIe function: -EINVAL
      }
    };
    this.vectorTable = VectorTable.create({
      intx: count(VFIO_PCI_INTX_IRQ_INDEX),
      msi: count(VFIO_PCI_MSI_IRQ_INDEX),
      msix: count(VFIO_PCI_MSIX_IRQ_INDEX),
      err: count(VFIO_PCI_ERR_IRQ_INDEX),
      req: count(VFIO_PCI_REQ_IRQ_INDEX),
    });
    this.owner = new VectorTableOwner(this.vectorTable);
    for (const i of [VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX]) {
      if (this.vectorTable.vectors(i)) this.owner.updateState(i, 0, ST_ENABLED | ST_EXTERNAL, 0);
    }
  }

  /** Opens the IRQ interface of a vfio device fd through @virq/native. */
  static fromFd(deviceFd: number): VfioDevice {
    const native = loadNativeSync();
    const vfio = native?.addon.vfio;
    if (!vfio?.deviceGetIrqInfo || !vfio.deviceSetIrqs) {
      throw new VirqError('ERR_VIRQ_NO_NATIVE', 'VfioDevice.fromFd needs @virq/native with VFIO support');
    }
    return new VfioDevice({
      getIrqInfo: (index, argsz) => vfio.deviceGetIrqInfo(deviceFd, index, argsz),
      setIrqs: (flags, index, start, count, data, argsz) =>
        vfio.deviceSetIrqs(deviceFd, flags, index, start, count, data, argsz),
    });
  }

  /** VFIO_DEVICE_GET_IRQ_INFO. */
  getIrqInfo(index: number, argsz?: number): IrqInfo {
    try {
      const r = this.backend.getIrqInfo(index, argsz);
      return { index: r.index, count: r.count, flags: r.flags };
    } catch (err) {
      throw toVfioError(err, 'VFIO_DEVICE_GET_IRQ_INFO');
    }
  }

  /** VFIO_DEVICE_SET_IRQS, passed to the kernel. */
  setIrqs(set: IrqSet): number {
    // The same coded shape errors as SoftDevice (ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE), before a
    // field is coerced here or handed to the ioctl: the kernel never sees a header that cannot be encoded.
    checkShape(set);
    const type = set.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    let bytes: Int32Array | Uint8Array | undefined;
    const fds: number[] = [];
    if (type === VFIO_IRQ_SET_DATA_EVENTFD && set.data !== undefined) {
      const src =
        set.data instanceof Uint8Array
          ? new Int32Array(set.data.slice().buffer, 0, set.data.byteLength >> 2)
          : set.data;
      for (const x of Array.from(src as ArrayLike<unknown>)) {
        if (typeof x === 'number') fds.push(x);
        else if (x instanceof SharedEventFd || (typeof x === 'object' && x !== null && 'slot' in x)) {
          throw new VfioError('EINVAL', 'VFIO_DEVICE_SET_IRQS', 'the kernel cannot signal a SharedEventFd');
        } else if (typeof x === 'object' && x !== null && typeof (x as { fd?: unknown }).fd === 'number') {
          fds.push((x as { fd: number }).fd);
        } else
          throw new VfioError('EINVAL', 'VFIO_DEVICE_SET_IRQS', 'DATA_EVENTFD element is not an eventfd');
      }
      bytes = Int32Array.from(fds);
    } else if (type === VFIO_IRQ_SET_DATA_BOOL && set.data !== undefined) {
      bytes =
        set.data instanceof Uint8Array
          ? set.data
          : Uint8Array.from(set.data as ArrayLike<unknown>, (x) =>
              typeof x === 'boolean' ? +x : Number(x) & 0xff,
            );
    }
    let ret: number;
    try {
      ret = this.backend.setIrqs(
        set.flags,
        set.index,
        set.start,
        set.count,
        bytes,
        set.argsz ?? impliedArgsz(set),
      );
    } catch (err) {
      this.mirrorFailure(set);
      throw toVfioError(err, 'VFIO_DEVICE_SET_IRQS');
    }
    if (ret === 0) this.mirror(set, fds);
    return ret;
  }

  /** Mirrors a successful TRIGGER configuration into the vector table. */
  private mirror(set: IrqSet, fds: number[]): void {
    const t = this.vectorTable;
    const o = this.owner;
    if ((set.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !== VFIO_IRQ_SET_ACTION_TRIGGER) return;
    const { index, start, count } = set;
    const type = set.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    if (index === VFIO_PCI_ERR_IRQ_INDEX || index === VFIO_PCI_REQ_IRQ_INDEX) {
      if (type === VFIO_IRQ_SET_DATA_EVENTFD && count === 1) {
        o.publishTrigger(index, 0, fds[0] >= 0 ? { kind: 'kernel', fd: fds[0] } : null, null);
      } else if (type === VFIO_IRQ_SET_DATA_NONE && count === 0) o.publishTrigger(index, 0, null, null);
      return;
    }
    if (type === VFIO_IRQ_SET_DATA_NONE && count === 0 && t.irqType === index) {
      this.disableMirror(index);
      return;
    }
    if (type !== VFIO_IRQ_SET_DATA_EVENTFD) return;
    if (t.irqType !== index) {
      o.setIrqType(index);
      for (let v = 0; v < Math.min(start + count, t.vectors(index)); v++)
        o.updateState(index, v, ST_ENABLED | ST_EXTERNAL, 0);
    }
    for (let i = 0; i < count; i++) {
      const v = start + i;
      o.updateState(index, v, ST_ENABLED | ST_EXTERNAL, 0);
      o.publishTrigger(index, v, fds[i] >= 0 ? { kind: 'kernel', fd: fds[i] } : null, null);
    }
  }

  private disableMirror(index: number): void {
    const t = this.vectorTable;
    const o = this.owner;
    for (let v = 0; v < t.vectors(index); v++) {
      o.publishTrigger(index, v, null, null);
      o.resetVector(index, v);
    }
    o.setIrqType(VFIO_PCI_NUM_IRQS);
  }

  /**
   * After a failed EVENTFD trigger call the kernel has unwound the vectors it touched (and disabled the
   * index if this call enabled it): mirror that.
   */
  private mirrorFailure(set: IrqSet): void {
    const t = this.vectorTable;
    const o = this.owner;
    if ((set.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !== VFIO_IRQ_SET_ACTION_TRIGGER) return;
    if ((set.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) !== VFIO_IRQ_SET_DATA_EVENTFD) return;
    if (set.index !== VFIO_PCI_MSI_IRQ_INDEX && set.index !== VFIO_PCI_MSIX_IRQ_INDEX) return;
    if (t.irqType !== set.index) return;
    for (let v = set.start; v < Math.min(set.start + set.count, t.vectors(set.index)); v++) {
      o.publishTrigger(set.index, v, null, null);
    }
  }
}
