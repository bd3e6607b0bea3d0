/**
 * Forgiveness, narrowly: the list of divergences between a kernel and the SoftDevice profile run
 * against it that the differential accepts. It is empty — every difference the differential found
 * between Debian's 6.1 / 6.12 and mainline is a row of @virq/core's kernel-profile table, and each
 * kernel is compared with its own profile — and the test asserts that each kernel's comparison forgave
 * exactly the counts listed here (zero).
 *
 * Should a future kernel need an entry, it must say why, which kernels it covers, how many ops it
 * forgives at the default seed, and match only its exact condition: a matcher sees the op, both
 * answers and the state SoftDevice held just before the op (`state`, from replaying the sequence), so
 * "start + count past the enabled vectors, with MSI-X enabled" is a matcher on `state`, not on the two
 * return codes alone. A forgiven op never ends the comparison of its sequence: the ops after it are
 * compared as usual, so a forgiveness that hides a split of state shows up as the divergences after it.
 */

import type { Op, OpResult, ReplayedState } from './seqfile.js';
import type { KernelName } from './vm.js';

/** What a matcher sees. */
export interface DivergenceContext {
  device: string;
  op: Op;
  kernel: OpResult;
  soft: OpResult;
  /** The SoftDevice's IRQ state just before the op (the replay up to it). */
  state: ReplayedState;
  kernelName: KernelName;
}

/** One accepted divergence. */
export interface KnownDifference {
  id: string;
  kernels: readonly KernelName[];
  reason: string;
  /** How many ops it forgives per kernel with the default seed; the VM test asserts these. */
  expected: Readonly<Partial<Record<KernelName, number>>>;
  matches(ctx: DivergenceContext): boolean;
}

/** Every accepted divergence: none. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [];

/** The entry of `list` that forgives this divergence, if any. */
export function knownDifference(
  ctx: DivergenceContext,
  list: readonly KnownDifference[] = KNOWN_DIFFERENCES,
): KnownDifference | undefined {
  return list.find((k) => k.kernels.includes(ctx.kernelName) && k.matches(ctx));
}
