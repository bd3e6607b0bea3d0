/**
 * The one list of deliberate differences between the kernel in the VM (Debian 12's 6.1) and virq's
 * SoftDevice, which follows mainline (spec/vfio-irq.md). A divergence is forgiven only if an entry here
 * matches it; everything else fails the differential test. Keep each entry narrow and give its reason.
 */
import type { Op, OpResult } from './seqfile.js';

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
  matches(ctx: DivergenceContext): boolean;
}

/** Every deliberate difference. Empty means: the kernel and SoftDevice agree everywhere. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [];

/** The entry that forgives this divergence, if any. */
export function knownDifference(ctx: DivergenceContext): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find(
    (k) => k.kernels.some((p) => ctx.kernelRelease.startsWith(p)) && k.matches(ctx),
  );
}
