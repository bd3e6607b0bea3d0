/**
 * The kernel's POLLHUP on an eventfd's release, seen from user space.
 *
 * In the kernel a virqfd holds an `eventfd_ctx` reference, not a file reference: when the user closes
 * the last fd of the eventfd, `eventfd_release()` wakes its wait queue with EPOLLHUP and the virqfd frees
 * its slot at once (the next `vfio_virqfd_enable()` on that slot succeeds). virq holds a duplicate fd to
 * read through, and that duplicate keeps the file open, so this release never happens by itself — and
 * an eventfd never reports EPOLLHUP to user space anyway.
 *
 * What user space can observe is the condition itself: does any fd of this process other than virq's
 * own still name the same eventfd? `/proc/self/fdinfo` names an eventfd by its `eventfd-id`, unique
 * among live eventfds (and the id cannot be recycled while virq's duplicate holds the ctx). The check
 * is lazy — run where the kernel's teardown would be observable: before SET_IRQS looks at a virqfd
 * slot, and when a virqfd is disabled (see virqfd.ts `virqfdPollHup`).
 *
 * Cost: one fdinfo read for the duplicate and one for the caller's fd while the caller's fd still names
 * the eventfd (the common case); a scan of /proc/self/fd only once that number has been closed or
 * reused, to find other fds the caller may hold on the same eventfd.
 *
 * Limits (all err towards "still open", i.e. the old behaviour, never towards a release the kernel
 * would not do): references held by other processes (fork, SCM_RIGHTS) are invisible and not needed
 * for a release here; fds on the same eventfd held by other libraries in this process (their own
 * duplicates, other epoll sets) count as the caller's and delay the release; a kernel without
 * `eventfd-id` in fdinfo never reports one.
 */
import { readdirSync } from 'node:fs';
import { eventfdId, type KernelFdRef, ownedKernelFds } from './kernel-fd.js';
import { kernelWatchHolds } from './kernel-watch.js';

/**
 * True once the eventfd behind `ref` has no fd left in this process except virq's own: the point where
 * the kernel would have released the file and sent EPOLLHUP. False whenever that cannot be told.
 */
export function kernelFileReleased(ref: KernelFdRef): boolean {
  // Without the addon virq holds no duplicate: the caller's fd is the reference and must stay open.
  if (!ref.owned || ref.origin === undefined) return false;
  const id = eventfdId(ref.fd);
  if (typeof id !== 'string') return false;
  if (eventfdId(ref.origin) === id) return false;
  // The caller's number was closed (or now names another file). Count every other fd on this eventfd;
  // virq's own duplicates, and the duplicate native Epoll keeps for each one the virqfd watch holds,
  // are not the caller's.
  const owned = ownedKernelFds();
  let foreign = 0;
  let internal = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (eventfdId(fd) !== id) continue;
    if (owned.has(fd)) {
      if (kernelWatchHolds(fd)) internal++;
    } else {
      foreign++;
    }
  }
  return foreign <= internal;
}
