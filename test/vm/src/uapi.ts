/**
 * The VFIO IRQ uapi numbers the harness speaks (include/uapi/linux/vfio.h). The C runner takes its
 * numbers from the guest's own <linux/vfio.h>; `harness.test.ts` checks these against the host's copy.
 */

/** GET_IRQ_INFO flags. */
export const IRQ_INFO = { EVENTFD: 1, MASKABLE: 2, AUTOMASKED: 4, NORESIZE: 8 } as const;

/** SET_IRQS data-type flags (exactly one must be set). */
export const DATA = { NONE: 1, BOOL: 2, EVENTFD: 4 } as const;
/** SET_IRQS action flags (exactly one must be set). */
export const ACTION = { MASK: 8, UNMASK: 16, TRIGGER: 32 } as const;
/** Mask of the data-type bits. */
export const DATA_TYPE_MASK = 0x7;
/** Mask of the action bits. */
export const ACTION_TYPE_MASK = 0x38;

/** VFIO PCI IRQ indexes. */
export const INDEX = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4 } as const;
/** VFIO_PCI_NUM_IRQS. */
export const NUM_IRQS = 5;
/** Size of struct vfio_irq_set's header (argsz, flags, index, start, count). */
export const IRQ_SET_HEADER = 20;
/** Size of struct vfio_irq_info. */
export const IRQ_INFO_SIZE = 16;

/** Errno values the kernel answers with (x86-64 Linux). */
export const ERRNO = {
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
} as const;

/** Index names for messages. */
export const INDEX_NAMES = ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'] as const;

/** Renders SET_IRQS flags as `DATA_EVENTFD|ACTION_TRIGGER` (unknown bits in hex). */
export function flagNames(flags: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(DATA)) if (flags & v) names.push(`DATA_${k}`);
  for (const [k, v] of Object.entries(ACTION)) if (flags & v) names.push(`ACTION_${k}`);
  const rest = flags & ~(DATA_TYPE_MASK | ACTION_TYPE_MASK);
  if (rest) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.join('|') || '0';
}

/** Renders a result code: `0`, `3`, or `-EINVAL`. */
export function retName(ret: number): string {
  if (ret >= 0) return String(ret);
  const name = Object.entries(ERRNO).find(([, v]) => v === -ret)?.[0];
  return name ? `-${name}` : String(ret);
}
