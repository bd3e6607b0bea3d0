/**
 * VFIO_DEVICE_SET_IRQS: vfio_set_irqs_validate_and_prepare() (drivers/vfio/vfio_main.c), then
 * vfio_pci_set_irqs_ioctl()'s dispatch table over the per-index files (intx.ts, msi.ts, err-req.ts),
 * and the IRQ part of vfio_pci_core_close_device() over the same files. The checks run in the kernel's order; the first failing
 * one decides the errno.
 */

import type { EventfdLike } from '@virq/trigger/internal';
import { argTypeError, describe, type KernelErr, kerr, outOfRange } from '@virq/trigger/internal';
import type { IrqSet } from './device.js';
import { replaceSingle, vfioPciSetErrTrigger, vfioPciSetReqTrigger } from './err-req.js';
import { vfioIntxDisable, vfioPciSetIntxMask, vfioPciSetIntxTrigger, vfioPciSetIntxUnmask } from './intx.js';
import { vfioMsiDisable, vfioPciSetMsiMask, vfioPciSetMsiTrigger, vfioPciSetMsiUnmask } from './msi.js';
import {
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
  VFIO_IRQ_SET_HEADER_SIZE,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from './uapi.js';
import { type IrqData, irqIs, isIntx, type SetIrqsFn, type SetResult, type Vdev } from './vdev.js';

const U32_MAX = 0xffffffff;

/**
 * The dispatch table of vfio_pci_set_irqs_ioctl(): index → action → handler. An entry may depend on
 * the device (ERR exists only on PCIe; MSI masking only with the extension). A missing entry is
 * -ENOTTY, as is an action value that is not exactly one action bit.
 */
export const SET_IRQS_DISPATCH: ReadonlyArray<Readonly<Record<number, (vdev: Vdev) => SetIrqsFn | null>>> = [
  /* VFIO_PCI_INTX_IRQ_INDEX */ {
    [VFIO_IRQ_SET_ACTION_MASK]: () => vfioPciSetIntxMask,
    [VFIO_IRQ_SET_ACTION_UNMASK]: () => vfioPciSetIntxUnmask,
    [VFIO_IRQ_SET_ACTION_TRIGGER]: () => vfioPciSetIntxTrigger,
  },
  /* VFIO_PCI_MSI_IRQ_INDEX: MASK/UNMASK are "XXX Need masking support exported" unless extended */ {
    [VFIO_IRQ_SET_ACTION_MASK]: (v) => (v.ext.msiMask ? vfioPciSetMsiMask : null),
    [VFIO_IRQ_SET_ACTION_UNMASK]: (v) => (v.ext.msiMask ? vfioPciSetMsiUnmask : null),
    [VFIO_IRQ_SET_ACTION_TRIGGER]: () => vfioPciSetMsiTrigger,
  },
  /* VFIO_PCI_MSIX_IRQ_INDEX */ {
    [VFIO_IRQ_SET_ACTION_MASK]: (v) => (v.ext.msixMask ? vfioPciSetMsiMask : null),
    [VFIO_IRQ_SET_ACTION_UNMASK]: (v) => (v.ext.msixMask ? vfioPciSetMsiUnmask : null),
    [VFIO_IRQ_SET_ACTION_TRIGGER]: () => vfioPciSetMsiTrigger,
  },
  /* VFIO_PCI_ERR_IRQ_INDEX: only on a PCIe function */ {
    [VFIO_IRQ_SET_ACTION_TRIGGER]: (v) => (v.pcie ? vfioPciSetErrTrigger : null),
  },
  /* VFIO_PCI_REQ_IRQ_INDEX */ {
    [VFIO_IRQ_SET_ACTION_TRIGGER]: () => vfioPciSetReqTrigger,
  },
];

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

/**
 * A u32 field that is not one: ERR_INVALID_ARG_TYPE (TypeError) for a non-number, ERR_OUT_OF_RANGE
 * (RangeError) for a number outside 0..2^32-1 or not an integer. The ioctl could not even be encoded,
 * so this is an argument error, not a kernel errno.
 */
export function u32Error(what: string, value: unknown): TypeError | RangeError {
  const msg = `${what} must be a u32, got ${describe(value)}`;
  return typeof value === 'number' ? outOfRange(msg) : argTypeError(msg);
}

/**
 * Argument shape errors are programming errors (TypeError / RangeError with a code), not kernel errnos:
 * a set that is not an object, or a header field that is not a u32. Checked before anything reads a
 * field as a number, so an object in `index` (even one whose toString throws) is coded, not a
 * TypeError from a property lookup.
 */
export function checkShape(set: IrqSet): void {
  if (typeof set !== 'object' || set === null) throw argTypeError('setIrqs: argument must be an object');
  for (const k of ['flags', 'index', 'start', 'count'] as const) {
    if (!isU32(set[k])) throw u32Error(`setIrqs: ${k}`, set[k]);
  }
  if (set.argsz !== undefined && !isU32(set.argsz)) throw u32Error('setIrqs: argsz', set.argsz);
}

/** Bytes of data the caller supplied (what argsz would cover after the header). */
function dataBytes(set: IrqSet): number {
  const d = set.data;
  if (d === undefined) return 0;
  const type = set.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  if (d instanceof Int32Array) return d.byteLength;
  if (d instanceof Uint8Array)
    return type === VFIO_IRQ_SET_DATA_EVENTFD ? Math.floor(d.byteLength / 4) * 4 : d.byteLength;
  return d.length * (type === VFIO_IRQ_SET_DATA_EVENTFD ? 4 : 1);
}

/** The argsz a real caller would pass for this data. */
export function impliedArgsz(set: IrqSet): number {
  return set.argsz ?? VFIO_IRQ_SET_HEADER_SIZE + dataBytes(set);
}

/**
 * vfio_set_irqs_validate_and_prepare(): header checks, the range against the index's count, the data
 * type, and argsz against count * element size. Returns the decoded data, or the error.
 */
export function vfioSetIrqsValidateAndPrepare(set: IrqSet, numIrqs: number): IrqData | KernelErr {
  checkShape(set);
  const argsz = impliedArgsz(set);
  const { flags, index, start, count } = set;
  if (
    argsz < VFIO_IRQ_SET_HEADER_SIZE ||
    index >= VFIO_PCI_NUM_IRQS ||
    count >= U32_MAX - start ||
    flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)
  ) {
    return kerr('EINVAL', 'bad header');
  }
  if (start >= numIrqs || start + count > numIrqs) {
    return kerr('EINVAL', `vectors [${start}, ${start + count}) outside [0, ${numIrqs})`);
  }
  let size: number;
  switch (flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      size = 0;
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = 1;
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = 4;
      break;
    default:
      return kerr('EINVAL', 'data type must be exactly one of NONE, BOOL, EVENTFD');
  }
  if (size && argsz - VFIO_IRQ_SET_HEADER_SIZE < count * size) {
    return kerr('EINVAL', `argsz ${argsz} too small for ${count} elements`);
  }
  if (size === 0) return { kind: 'none' };
  return size === 1 ? decodeBools(set, count) : decodeFds(set, count);
}

function decodeBools(set: IrqSet, count: number): IrqData | KernelErr {
  const d = set.data;
  const bools = new Uint8Array(count);
  if (d instanceof Uint8Array) {
    bools.set(d.subarray(0, count));
  } else if (d instanceof Int32Array || d === undefined) {
    // argsz claimed bytes the caller did not give as a bool array: treat as zero-filled (as the kernel
    // would read whatever the buffer held)
    if (d)
      for (let i = 0; i < count && i < d.byteLength; i++)
        bools[i] = new Uint8Array(d.buffer, d.byteOffset)[i];
  } else {
    for (let i = 0; i < count && i < d.length; i++) {
      const x = d[i];
      if (typeof x === 'boolean') bools[i] = x ? 1 : 0;
      else if (typeof x === 'number' && Number.isInteger(x)) bools[i] = x & 0xff;
      else return kerr('EINVAL', 'DATA_BOOL element is not a bool');
    }
  }
  return { kind: 'bool', bools };
}

function decodeFds(set: IrqSet, count: number): IrqData | KernelErr {
  const d = set.data;
  const fds: EventfdLike[] = [];
  if (d instanceof Int32Array) {
    for (let i = 0; i < count; i++) fds.push(i < d.length ? d[i] : 0);
  } else if (d instanceof Uint8Array) {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let i = 0; i < count; i++) fds.push(i * 4 + 4 <= d.byteLength ? dv.getInt32(i * 4, true) : 0);
  } else if (d === undefined) {
    for (let i = 0; i < count; i++) fds.push(0);
  } else {
    for (let i = 0; i < count; i++) {
      const x = i < d.length ? d[i] : 0;
      if (typeof x === 'number') {
        if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff)
          return kerr('EINVAL', 'fd is not an s32');
        fds.push(x);
      } else if (typeof x === 'object' && x !== null) {
        fds.push(x);
      } else {
        return kerr('EINVAL', 'DATA_EVENTFD element is not an eventfd');
      }
    }
  }
  return { kind: 'eventfd', fds };
}

/** vfio_pci_set_irqs_ioctl(): find the handler for (index, action) and run it. */
export function vfioPciSetIrqsIoctl(
  vdev: Vdev,
  flags: number,
  index: number,
  start: number,
  count: number,
  data: IrqData,
): SetResult {
  const action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  const row = SET_IRQS_DISPATCH[index];
  const func = row?.[action]?.(vdev) ?? null;
  if (!func) return kerr('ENOTTY', 'no handler for this index and action');
  return func(vdev, index, start, count, flags, data);
}

/** Tears everything down, as vfio_pci_core_close_device() does (disable irq_type, drop ERR/REQ). */
export function vfioPciIrqsRelease(vdev: Vdev): void {
  if (isIntx(vdev)) vfioIntxDisable(vdev);
  else if (irqIs(vdev, VFIO_PCI_MSI_IRQ_INDEX)) vfioMsiDisable(vdev, false);
  else if (irqIs(vdev, VFIO_PCI_MSIX_IRQ_INDEX)) vfioMsiDisable(vdev, true);
  if (vdev.table.vectors(VFIO_PCI_ERR_IRQ_INDEX) > 0)
    replaceSingle(vdev, 'errTrigger', VFIO_PCI_ERR_IRQ_INDEX, null);
  if (vdev.table.vectors(VFIO_PCI_REQ_IRQ_INDEX) > 0)
    replaceSingle(vdev, 'reqTrigger', VFIO_PCI_REQ_IRQ_INDEX, null);
  vdev.virqDisabled = false;
}
