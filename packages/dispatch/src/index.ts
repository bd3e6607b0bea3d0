/**
 * @virq/dispatch: services interrupt vectors on worker threads — a fast top half on service workers
 * that own disjoint vector sets, deferred work on a piscina pool (queued at most once per vector),
 * NAPI budgets and hybrid interrupt/poll mode, crash recovery with exact accounting.
 * @packageDocumentation
 */
export { type AffinitySpec, resolveAffinity } from './affinity.js';
export type { HandlerContext, MaskOptions, VectorCounters } from './context.js';
export { DEFAULT_MASK_TIMEOUT_MS } from './context.js';
export {
  type DispatchErrorEvent,
  Dispatcher,
  type DispatcherOptions,
  type DispatcherStats,
  type DispatchMode,
  type StallAction,
  type StallEvent,
  type WorkerStats,
} from './dispatcher.js';
export { DispatchError, type DispatchErrorCode } from './errors.js';
export {
  DispatchState,
  type DispatchStateHandle,
  H as STATE_HEADER,
  STATE_MAGIC,
  STATE_VERSION,
  VECTOR_COUNTERS,
  WORKER_COUNTERS,
} from './layout.js';
export type { HandlerModule } from './module.js';
export { StatsExporter } from './stats.js';
