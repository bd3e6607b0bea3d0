/**
 * The IRQ part of `include/uapi/linux/vfio.h`: every constant, flag, index and struct layout that
 * VFIO_DEVICE_GET_IRQ_INFO and VFIO_DEVICE_SET_IRQS touch, under the kernel's own names, plus
 * encoders/decoders for the two structs so a byte buffer can cross into a real ioctl unchanged.
 * test/uapi.test.ts compiles a C program against the machine's <linux/vfio.h> and compares.
 */
import { outOfRange } from '@virq/trigger/internal';

/** `struct vfio_irq_info.flags`: the index signals through eventfds. */
export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
/** `struct vfio_irq_info.flags`: ACTION_MASK/UNMASK are supported. */
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
/** `struct vfio_irq_info.flags`: the interrupt masks itself when it fires (INTx). */
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
/** `struct vfio_irq_info.flags`: the vector count cannot change while enabled. */
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

/** `struct vfio_irq_set.flags`: no data. */
export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
/** `struct vfio_irq_set.flags`: data is one u8 bool per vector. */
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
/** `struct vfio_irq_set.flags`: data is one s32 eventfd per vector. */
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
/** `struct vfio_irq_set.flags`: mask the interrupt. */
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
/** `struct vfio_irq_set.flags`: unmask the interrupt. */
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
/** `struct vfio_irq_set.flags`: trigger (signal / bind the signal of) the interrupt. */
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
/** All data-type bits. */
export const VFIO_IRQ_SET_DATA_TYPE_MASK =
  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
/** All action bits. */
export const VFIO_IRQ_SET_ACTION_TYPE_MASK =
  VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

/** vfio-pci IRQ index: legacy INTx. */
export const VFIO_PCI_INTX_IRQ_INDEX = 0;
/** vfio-pci IRQ index: MSI. */
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
/** vfio-pci IRQ index: MSI-X. */
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
/** vfio-pci IRQ index: PCIe AER error reporting. */
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
/** vfio-pci IRQ index: device release request. */
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
/** Number of vfio-pci IRQ indexes; also the kernel's `irq_type` value for "none enabled". */
export const VFIO_PCI_NUM_IRQS = 5;

/** `sizeof(struct vfio_irq_info)`: u32 argsz, flags, index, count. */
export const VFIO_IRQ_INFO_SIZE = 16;
/** `offsetofend(struct vfio_irq_set, count)`: u32 argsz, flags, index, start, count; data follows. */
export const VFIO_IRQ_SET_HEADER_SIZE = 20;

/** `VFIO_TYPE` (the ioctl type character ';'). */
export const VFIO_TYPE = 0x3b;
/** `VFIO_BASE`: ioctl numbers are VFIO_BASE + n. */
export const VFIO_BASE = 100;
/** `_IO(type, nr)` from <asm-generic/ioctl.h>: no size and no direction bits. */
export function _IO(type: number, nr: number): number {
  return ((type & 0xff) << 8) | (nr & 0xff);
}
/** `_IO(VFIO_TYPE, VFIO_BASE + 0)` */
export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
/** `_IO(VFIO_TYPE, VFIO_BASE + 1)` */
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
/** `_IO(VFIO_TYPE, VFIO_BASE + 2)` */
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);
/** `_IO(VFIO_TYPE, VFIO_BASE + 3)` */
export const VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3);
/** `_IO(VFIO_TYPE, VFIO_BASE + 4)` */
export const VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4);
/** `_IO(VFIO_TYPE, VFIO_BASE + 5)` */
export const VFIO_GROUP_UNSET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 5);
/** `_IO(VFIO_TYPE, VFIO_BASE + 6)` */
export const VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6);
/** `_IO(VFIO_TYPE, VFIO_BASE + 7)` */
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7);
/** `_IO(VFIO_TYPE, VFIO_BASE + 8)` */
export const VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8);
/** `_IO(VFIO_TYPE, VFIO_BASE + 9)` */
export const VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9);
/** `_IO(VFIO_TYPE, VFIO_BASE + 10)` */
export const VFIO_DEVICE_SET_IRQS = _IO(VFIO_TYPE, VFIO_BASE + 10);
/** `_IO(VFIO_TYPE, VFIO_BASE + 11)` */
export const VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11);

/** PCI command register bit 10, INTx Disable (PCI_COMMAND_INTX_DISABLE). */
export const PCI_COMMAND_INTX_DISABLE = 0x400;
/** PCI status register bit 3, Interrupt Status (PCI_STATUS_INTERRUPT). */
export const PCI_STATUS_INTERRUPT = 0x08;

/** Decoded `struct vfio_irq_info`. */
export interface VfioIrqInfo {
  argsz: number;
  flags: number;
  index: number;
  count: number;
}

/** Decoded `struct vfio_irq_set` header, with its trailing data bytes. */
export interface VfioIrqSet {
  argsz: number;
  flags: number;
  index: number;
  start: number;
  count: number;
  data: Uint8Array;
}

/** Encodes `struct vfio_irq_info` (host byte order, which is little-endian on every Linux VFIO host). */
export function encodeIrqInfo(info: VfioIrqInfo): Uint8Array {
  const out = new Uint8Array(VFIO_IRQ_INFO_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, info.argsz >>> 0, true);
  dv.setUint32(4, info.flags >>> 0, true);
  dv.setUint32(8, info.index >>> 0, true);
  dv.setUint32(12, info.count >>> 0, true);
  return out;
}

/** Decodes `struct vfio_irq_info`; throws RangeError if fewer than 16 bytes are given. */
export function decodeIrqInfo(bytes: Uint8Array): VfioIrqInfo {
  if (bytes.byteLength < VFIO_IRQ_INFO_SIZE) throw outOfRange('vfio_irq_info needs 16 bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    argsz: dv.getUint32(0, true),
    flags: dv.getUint32(4, true),
    index: dv.getUint32(8, true),
    count: dv.getUint32(12, true),
  };
}

/** Encodes `struct vfio_irq_set` with its data; `argsz` defaults to header + data length. */
export function encodeIrqSet(set: Omit<VfioIrqSet, 'argsz'> & { argsz?: number }): Uint8Array {
  const out = new Uint8Array(VFIO_IRQ_SET_HEADER_SIZE + set.data.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, (set.argsz ?? out.byteLength) >>> 0, true);
  dv.setUint32(4, set.flags >>> 0, true);
  dv.setUint32(8, set.index >>> 0, true);
  dv.setUint32(12, set.start >>> 0, true);
  dv.setUint32(16, set.count >>> 0, true);
  out.set(set.data, VFIO_IRQ_SET_HEADER_SIZE);
  return out;
}

/** Decodes `struct vfio_irq_set`; `data` is a view of the bytes after the 20-byte header. */
export function decodeIrqSet(bytes: Uint8Array): VfioIrqSet {
  if (bytes.byteLength < VFIO_IRQ_SET_HEADER_SIZE) throw outOfRange('vfio_irq_set needs 20 bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    argsz: dv.getUint32(0, true),
    flags: dv.getUint32(4, true),
    index: dv.getUint32(8, true),
    start: dv.getUint32(12, true),
    count: dv.getUint32(16, true),
    data: bytes.subarray(VFIO_IRQ_SET_HEADER_SIZE),
  };
}

/** Human-readable index names, for messages. */
export const IRQ_INDEX_NAMES: readonly string[] = ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'];
