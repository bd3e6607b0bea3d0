/**
 * The virtio PCI transport's map: the vendor-specific capabilities in config space that say where in
 * which BAR the common configuration, the notification area (with its multiplier), the ISR byte and
 * the device configuration live (§4.1.4 Virtio Structure PCI Capabilities).
 */
import { VirtioNetError } from './errors.js';
import { PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP, VIRTIO_PCI_CAP_OFF } from './spec.js';

/** Reads `length` bytes of PCI config space at `offset`. */
export type ConfigReader = (offset: number, length: number) => Uint8Array;

/** One structure: `length` bytes at `offset` of BAR `bar`. */
export interface VirtioStructure {
  bar: number;
  offset: number;
  length: number;
}

/** Where the four structures are, and the notify multiplier. */
export interface VirtioPciCaps {
  common: VirtioStructure;
  notify: VirtioStructure & { multiplier: number };
  isr: VirtioStructure;
  device: VirtioStructure;
  /** MSI-X table size (vectors) from the MSI-X capability, 0 if there is none. */
  msixVectors: number;
}

/** PCI Local Bus 3.0 §6.2.2: status register bit 4 = capabilities list; the list starts at 0x34. */
const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_CAPABILITY_LIST = 0x34;
/** §4.1.4: a virtio structure's BAR is 0..5; other values are reserved. */
const MAX_BAR = 5;

const le32 = (b: Uint8Array, o: number) =>
  (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

/**
 * Walks the capability list. The first capability of each type with a valid BAR wins (§4.1.4.1: the
 * driver SHOULD use the first one it can; later ones are alternatives). Throws `ERR_VIRQ_VIRTIO_NODEV` when a
 * structure is missing — a legacy-only device, or not virtio at all.
 */
export function readVirtioCaps(read: ConfigReader): VirtioPciCaps {
  const status = read(PCI_STATUS, 2);
  if ((status[0] & PCI_STATUS_CAP_LIST) === 0) {
    throw new VirtioNetError('ERR_VIRQ_VIRTIO_NODEV', 'the function has no PCI capability list');
  }
  const found: Partial<Record<number, VirtioStructure & { multiplier?: number }>> = {};
  let msixVectors = 0;
  // Pointers are dword-aligned (the low two bits are reserved); 48 caps is more than config space holds,
  // so a looped list cannot hang the walk.
  let ptr = read(PCI_CAPABILITY_LIST, 1)[0] & ~3;
  for (let n = 0; ptr >= 0x40 && n < 48; n++) {
    const cap = read(ptr, 20);
    const id = cap[0];
    if (id === PCI_CAP_ID_MSIX) {
      // PCI 3.0 §6.8.2.3 Message Control: table size is N-1 in bits 10:0.
      msixVectors = ((cap[2] | (cap[3] << 8)) & 0x7ff) + 1;
    } else if (id === PCI_CAP_ID_VNDR) {
      const type = cap[VIRTIO_PCI_CAP_OFF.cfg_type];
      const bar = cap[VIRTIO_PCI_CAP_OFF.bar];
      if (found[type] === undefined && bar <= MAX_BAR) {
        found[type] = {
          bar,
          offset: le32(cap, VIRTIO_PCI_CAP_OFF.offset),
          length: le32(cap, VIRTIO_PCI_CAP_OFF.length),
          // §4.1.4.4: struct virtio_pci_notify_cap appends notify_off_multiplier.
          multiplier:
            type === VIRTIO_PCI_CAP.NOTIFY_CFG ? le32(cap, VIRTIO_PCI_CAP_OFF.notify_off_multiplier) : 0,
        };
      }
    }
    ptr = cap[1] & ~3;
  }
  const need = (type: number, name: string): VirtioStructure & { multiplier?: number } => {
    const s = found[type];
    if (s === undefined) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_NODEV',
        `no virtio ${name} capability (§4.1.4): not a modern virtio device (disable-legacy=on gives one)`,
      );
    }
    return s;
  };
  const common = need(VIRTIO_PCI_CAP.COMMON_CFG, 'common configuration');
  const notify = need(VIRTIO_PCI_CAP.NOTIFY_CFG, 'notification');
  const isr = need(VIRTIO_PCI_CAP.ISR_CFG, 'ISR');
  const device = need(VIRTIO_PCI_CAP.DEVICE_CFG, 'device configuration');
  const strip = ({ bar, offset, length }: VirtioStructure): VirtioStructure => ({ bar, offset, length });
  return {
    common: strip(common),
    notify: { ...strip(notify), multiplier: notify.multiplier ?? 0 },
    isr: strip(isr),
    device: strip(device),
    msixVectors,
  };
}
