/**
 * @virq/trigger/internal: what @virq/core builds on — the eventfd_ctx references
 * (`eventfdCtxFdget`), kernel eventfd syscalls, the addon loader, the kernel-style error values the
 * per-index SET_IRQS functions return, and virqfd. Not a user API: it changes with core.
 * @packageDocumentation
 */

export * from './doorbell.js';
export * from './errors.js';
export * from './eventfd-pool.js';
export * from './file-release.js';
export * from './index.js';
export * from './kernel-fd.js';
export * from './kernel-poll.js';
export * from './kernel-watch.js';
export * from './native.js';
export * from './shared-eventfd.js';
export * from './trigger.js';
export * from './trigger-desc.js';
export * from './virqfd.js';
