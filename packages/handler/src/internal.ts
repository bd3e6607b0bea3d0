/**
 * @virq/handler/internal: what @virq/dispatch builds on — the state layout's word and counter
 * indexes, the ctx's mask/unmask steps, the table operations by position, the per-thread env and the
 * module loader. Not a user API: it changes with dispatch.
 * @packageDocumentation
 */
export * from './context.js';
export * from './env.js';
export * from './errors.js';
export * from './layout.js';
export * from './module.js';
export * from './table-ops.js';
