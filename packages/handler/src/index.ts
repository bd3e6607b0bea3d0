/**
 * @virq/handler: the handler's side of a dispatcher — the module a user writes
 * ({@link HandlerModule}: `handler`, `thread`, NAPI hooks), the `ctx` each call is handed
 * ({@link HandlerContext}: the vector, its raises, masking, counters) and the dispatcher's shared
 * memory behind it ({@link DispatchState}: per-vector and per-worker words and counters, which every
 * service worker and deferred-work thread attaches to). @virq/dispatch runs it; handler modules and
 * readers of the state import the types from here or from @virq/dispatch, which re-exports them.
 * @packageDocumentation
 */
export type { HandlerContext, MaskOptions, VectorCounters } from './context.js';
export { DEFAULT_MASK_TIMEOUT_MS } from './context.js';
export { DispatchError, type DispatchErrorCode, type DispatchErrorEvent } from './errors.js';
export {
  DispatchState,
  type DispatchStateHandle,
  H as STATE_HEADER,
  STATE_MAGIC,
  STATE_VERSION,
  VECTOR_COUNTERS,
  WORKER_COUNTERS,
} from './layout.js';
export type { HandlerModule, NapiHooks } from './module.js';
