/**
 * @virq/dispatch: services interrupt vectors on worker threads — a fast top half on service workers
 * that own disjoint vector sets, deferred work on a piscina pool (queued at most once per vector),
 * NAPI budgets and hybrid interrupt/poll mode, crash recovery with exact accounting.
 * @packageDocumentation
 */

export type { HandlerContext, HandlerModule, MaskOptions, VectorCounters } from '@virq/handler';
export {
  DEFAULT_MASK_TIMEOUT_MS,
  DispatchError,
  type DispatchErrorCode,
  DispatchState,
  type DispatchStateHandle,
  STATE_HEADER,
  STATE_MAGIC,
  STATE_VERSION,
  VECTOR_COUNTERS,
  WORKER_COUNTERS,
} from '@virq/handler';
export { type AffinitySpec, resolveAffinity } from './affinity.js';
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
export { StatsExporter } from './stats.js';
