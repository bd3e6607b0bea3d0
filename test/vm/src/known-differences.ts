/**
 * The one list of deliberate differences between the kernel in the VM (Debian 12's 6.1) and virq's
 * SoftDevice, which follows mainline (spec/vfio-irq.md). A divergence is forgiven only if an entry here
 * matches it; everything else fails the differential test. Keep each entry narrow and give its reason.
 */
import type { Op, OpResult } from './seqfile.js';
import { ACTION, ACTION_TYPE_MASK, DATA, DATA_TYPE_MASK, ERRNO, INDEX } from './uapi.js';

/** Context a matcher sees: the op, both answers, and the sequence so far. */
export interface DivergenceContext {
  device: string;
  op: Op;
  kernel: OpResult;
  soft: OpResult;
  /** The kernel's release, e.g. 6.1.0-50-amd64. */
  kernelRelease: string;
}

/** One deliberate difference. */
export interface KnownDifference {
  id: string;
  /** Kernel releases it applies to (a prefix match on uname -r). */
  kernels: string[];
  reason: string;
  /**
   * True when the two sides may hold different IRQ state after the op: the rest of that sequence is
   * then not compared (the comparison says how many ops it skipped).
   */
  splitsState: boolean;
  matches(ctx: DivergenceContext): boolean;
}

const MSI_INDEXES = [INDEX.MSI, INDEX.MSIX];
const isSet = (op: Op): op is Extract<Op, { op: 'set' }> => op.op === 'set';
const action = (op: Extract<Op, { op: 'set' }>) => op.flags & ACTION_TYPE_MASK;
const dataType = (op: Extract<Op, { op: 'set' }>) => op.flags & DATA_TYPE_MASK;
/** Debian 12's kernel: 6.1.0-N-amd64 (6.1.y stable, without the 6.5 dynamic MSI-X series). */
const DEBIAN_6_1 = ['6.1.'];

/** Every deliberate difference. Empty would mean: the kernel and SoftDevice agree everywhere. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: 'msi-loopback-past-num_ctx',
    kernels: DEBIAN_6_1,
    reason:
      '6.1 vfio_pci_set_msi_trigger() refuses DATA_NONE/DATA_BOOL loopback when start + count > num_ctx ' +
      '(-EINVAL, nothing signalled). The 6.5 dynamic MSI-X series dropped num_ctx: mainline, which ' +
      'SoftDevice follows, signals the listed vectors that have a trigger and skips the rest.',
    splitsState: false,
    matches: ({ op, kernel, soft }) =>
      isSet(op) &&
      MSI_INDEXES.includes(op.index as 1 | 2) &&
      action(op) === ACTION.TRIGGER &&
      (dataType(op) === DATA.NONE || dataType(op) === DATA.BOOL) &&
      op.count > 0 &&
      kernel.ret === -ERRNO.EINVAL &&
      soft.ret === 0,
  },
  {
    id: 'msi-set-block-past-num_ctx',
    kernels: DEBIAN_6_1,
    reason:
      '6.1 vfio_msi_set_block() returns -EINVAL before touching any vector when start + count > num_ctx. ' +
      'Mainline (6.5+) walks the vectors in order: fd < 0 on a vector that was never allocated is a ' +
      'no-op, so a call whose out-of-range part only removes triggers succeeds (and re-binds the in-range ' +
      'part); a closed fd on an allocated vector before the out-of-range part is -EBADF (rb078: vectors ' +
      '1..4 of 4 enabled, a closed fd at vector 3), and the unwind then clears [start, that vector]. Any ' +
      'other 6.1 -EINVAL here (a non-eventfd fd, a vector past the allocation with fd >= 0) is -EINVAL in ' +
      'mainline too, so only the upfront range check answers -EINVAL where mainline says 0 or -EBADF.',
    splitsState: true,
    matches: ({ op, kernel, soft }) =>
      isSet(op) &&
      MSI_INDEXES.includes(op.index as 1 | 2) &&
      op.flags === (DATA.EVENTFD | ACTION.TRIGGER) &&
      kernel.ret === -ERRNO.EINVAL &&
      (soft.ret === 0 || soft.ret === -ERRNO.EBADF),
  },
  {
    id: 'err-req-eventfd-below-minus-one',
    kernels: DEBIAN_6_1,
    reason:
      'ERR/REQ DATA_EVENTFD with an fd below -1: 6.1 vfio_pci_set_ctx_trigger_single() handles fd == -1 ' +
      'and fd >= 0 and then returns 0 for anything else (a silent no-op). Mainline returns -EINVAL since ' +
      '"vfio/pci: Use RCU for error/request triggers to avoid circular locking" (Alex Williamson, applied ' +
      'for v6.19; in the 6.12.y and 6.17.13 stable releases, not in Debian 6.1.0-50 = 6.1.176), which ' +
      "dropped the EVENTFD branch's trailing return 0 so such an fd falls through to the final -EINVAL. " +
      'Neither answer changes any state.',
    splitsState: false,
    matches: ({ op, kernel, soft }) =>
      isSet(op) &&
      (op.index === INDEX.ERR || op.index === INDEX.REQ) &&
      op.flags === (DATA.EVENTFD | ACTION.TRIGGER) &&
      op.start === 0 &&
      op.count === 1 &&
      op.data.length >= 1 &&
      'i' in op.data[0] &&
      op.data[0].i < -1 &&
      kernel.ret === 0 &&
      soft.ret === -ERRNO.EINVAL,
  },
];

/** The entry that forgives this divergence, if any. */
export function knownDifference(ctx: DivergenceContext): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find(
    (k) => k.kernels.some((p) => ctx.kernelRelease.startsWith(p)) && k.matches(ctx),
  );
}
