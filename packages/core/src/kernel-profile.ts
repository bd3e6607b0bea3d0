/**
 * Kernel profiles: which kernel's vfio-pci a SoftDevice answers as. virq models mainline; the kernels
 * people deploy on answer differently in a few places, each the work of one upstream commit. This file
 * is the one table of those differences — what changed, the commit that changed it, and which profile
 * has the newer behaviour — and the few check functions msi.ts, err-req.ts and soft-device.ts call at the spot
 * where the kernels' code differs, so the index functions carry no per-kernel branches of their own.
 *
 * Every row is proven against the real kernels in test/vm (Debian 12's 6.1.0-57 = 6.1.192 and
 * 6.12.117+deb12): the differential runs each profile against its kernel with zero forgiven ops.
 */
import { type KernelErr, kerr, outOfRange } from '@virq/trigger/internal';

/**
 * The kernels a SoftDevice can answer as: `'6.1'` (the 6.1.y LTS, Debian 12's kernel), `'6.12'` (the
 * 6.12.y LTS as of 6.12.117) and `'mainline'` (the default). 6.12.117 answers exactly as mainline on
 * every row of {@link KERNEL_DIFFERENCES} — it has the v6.5 dynamic MSI-X series and the backport of
 * the v6.19 ERR/REQ fix — so `'6.12'` is mainline by name, kept so a user can say which kernel they
 * run and have a row added here if the two ever part.
 */
export type KernelProfileName = '6.1' | '6.12' | 'mainline';

/** Every profile, oldest first. */
export const KERNEL_PROFILES: readonly KernelProfileName[] = ['6.1', '6.12', 'mainline'];

/** Identifiers of the rows of {@link KERNEL_DIFFERENCES}. */
export type KernelDifferenceId = 'dynamic-msix' | 'no-num-ctx' | 'ctx-trigger-fd-below-minus-one';

/** One behaviour in which the kernels differ, with the commit that introduced the newer behaviour. */
export interface KernelDifference {
  readonly id: KernelDifferenceId;
  /** The kernel function(s) whose answer changes. */
  readonly where: string;
  /** What kernels before the commit do. */
  readonly before: string;
  /** What kernels with the commit do (mainline). */
  readonly after: string;
  /** The mainline commit (first 12 hex digits) and its subject. */
  readonly commit: string;
  readonly subject: string;
  /** The first mainline release with it. */
  readonly since: string;
  /** Stable-branch backports that bring it to an older series: series → backport commit. */
  readonly backports: Readonly<Record<string, string>>;
  /** Per profile: true when that kernel has the commit's (newer) behaviour. */
  readonly has: Readonly<Record<KernelProfileName, boolean>>;
}

/** The one table. Its order is the order of the test/vm README's list. */
export const KERNEL_DIFFERENCES: readonly KernelDifference[] = [
  {
    id: 'dynamic-msix',
    where: 'vfio_pci_ioctl_get_irq_info, vfio_msi_set_vector_signal (vfio_msi_alloc_irq)',
    before:
      'MSI-X always reports NORESIZE; a vector past those enabled cannot be bound without disabling ' +
      'and re-enabling MSI-X.',
    after:
      'Where the platform can allocate MSI-X vectors one by one (pci_msix_can_alloc_dyn(), has_dyn_msix), ' +
      'MSI-X drops NORESIZE and binding an fd to a vector past those enabled allocates it on the fly ' +
      '(pci_msix_alloc_irq_at). The companion commit 6c8017c6a58d "vfio/pci: Clear ' +
      'VFIO_IRQ_INFO_NORESIZE for MSI-X" made GET_IRQ_INFO say so.',
    commit: 'e4163438e015',
    subject: 'vfio/pci: Support dynamic MSI-X',
    since: 'v6.5',
    backports: {},
    has: { '6.1': false, '6.12': true, mainline: true },
  },
  {
    id: 'no-num-ctx',
    where: 'vfio_msi_set_block, vfio_pci_set_msi_trigger (loopback)',
    before:
      'vdev->num_ctx (the vectors of the enabling call) bounds every later call: set_block with ' +
      'start >= num_ctx or start + count > num_ctx is -EINVAL before any fd is looked at (so also ' +
      'start > 0, count 0 at enable: the vectors are freed again), and NONE/BOOL loopback with ' +
      'start + count > num_ctx is -EINVAL, nothing signalled.',
    after:
      'No counter: set_block walks the vectors in order (fd < 0 on a never-allocated vector is a no-op, ' +
      'fd >= 0 there is -EINVAL from vfio_msi_alloc_irq unless MSI-X is dynamic, a bad fd on an ' +
      'allocated vector -EBADF/-EINVAL, then the unwind); loopback signals the listed vectors that ' +
      'have a trigger and skips the rest.',
    commit: '63972f63a63f',
    subject: 'vfio/pci: Remove interrupt context counter',
    since: 'v6.5',
    backports: {},
    has: { '6.1': false, '6.12': true, mainline: true },
  },
  {
    id: 'ctx-trigger-fd-below-minus-one',
    where: 'vfio_pci_set_ctx_trigger_single (ERR and REQ)',
    before:
      'DATA_EVENTFD with an fd below -1 is a silent no-op: the EVENTFD branch handles fd == -1 and ' +
      'fd >= 0, then returns 0 for anything else.',
    after:
      "-EINVAL: the rework to RCU-protected triggers dropped the EVENTFD branch's trailing return 0, so " +
      'such an fd falls through to the final return -EINVAL. Neither answer changes any state.',
    commit: '98693e0897f7',
    subject: 'vfio/pci: Use RCU for error/request triggers to avoid circular locking',
    since: 'v6.19',
    // linux-6.12.y: in linux-stable-rc's push of 2025-12-29, and so in Debian's 6.12.117 (measured:
    // -EINVAL). No 6.1.y backport: Debian's 6.1.0-57 (6.1.192) still answers 0.
    backports: { '6.12': '45d7cf5174e4' },
    has: { '6.1': false, '6.12': true, mainline: true },
  },
];

/**
 * A profile resolved from the table: which rows it has. The check functions below take one, so the
 * call sites in msi.ts and err-req.ts read like the kernel line they stand for.
 */
export interface KernelProfile {
  readonly name: KernelProfileName;
  has(id: KernelDifferenceId): boolean;
}

const RESOLVED = new Map<KernelProfileName, KernelProfile>(
  KERNEL_PROFILES.map((name) => {
    const rows = new Set(KERNEL_DIFFERENCES.filter((d) => d.has[name]).map((d) => d.id));
    return [name, { name, has: (id: KernelDifferenceId) => rows.has(id) }];
  }),
);

/** The profile of a kernel name; throws a RangeError naming the known ones for anything else. */
export function kernelProfile(name: KernelProfileName = 'mainline'): KernelProfile {
  const p = RESOLVED.get(name);
  if (!p) {
    throw outOfRange(
      `SoftDevice: kernel must be one of ${KERNEL_PROFILES.map((k) => `'${k}'`).join(', ')}, got ${String(name)}`,
    );
  }
  return p;
}

/**
 * Whether MSI-X can be dynamic on this kernel (row `dynamic-msix`): the SoftDevice option
 * `msix.dynamic` asks for it, and a kernel without the series cannot give it — constructing such a
 * device is a RangeError rather than a device that silently behaves as neither kernel.
 */
export function checkDynamicMsix(kernel: KernelProfile, requested: boolean): void {
  if (requested && !kernel.has('dynamic-msix')) {
    throw outOfRange(
      `SoftDevice: kernel '${kernel.name}' has no dynamic MSI-X (vfio-pci gained it in v6.5, e4163438e015)`,
    );
  }
}

/**
 * vfio_msi_set_block()'s opening check in kernels with num_ctx (row `no-num-ctx`): `start >= num_ctx
 * || start + count > num_ctx` is -EINVAL; null when the kernel has no such check or the range passes.
 */
export function msiSetBlockRange(
  kernel: KernelProfile,
  start: number,
  count: number,
  numCtx: number,
): KernelErr | null {
  if (kernel.has('no-num-ctx')) return null;
  if (start >= numCtx || start + count > numCtx) {
    return kerr('EINVAL', `vectors [${start}, ${start + count}) past num_ctx ${numCtx} (${kernel.name})`);
  }
  return null;
}

/**
 * vfio_pci_set_msi_trigger()'s loopback check in kernels with num_ctx (row `no-num-ctx`): `start +
 * count > num_ctx` is -EINVAL; null otherwise.
 */
export function msiLoopbackRange(
  kernel: KernelProfile,
  start: number,
  count: number,
  numCtx: number,
): KernelErr | null {
  if (kernel.has('no-num-ctx') || start + count <= numCtx) return null;
  return kerr('EINVAL', `loopback [${start}, ${start + count}) past num_ctx ${numCtx} (${kernel.name})`);
}

/**
 * vfio_pci_set_ctx_trigger_single(), DATA_EVENTFD with an fd below -1 (row
 * `ctx-trigger-fd-below-minus-one`): -EINVAL, or 0 (nothing changes) on kernels before the RCU rework.
 */
export function ctxTriggerFdBelowMinusOne(kernel: KernelProfile): 0 | KernelErr {
  return kernel.has('ctx-trigger-fd-below-minus-one') ? kerr('EINVAL', 'fd below -1') : 0;
}
