/**
 * Errors raised by the dispatcher: a {@link DispatchError} (a VirqError, code `ERR_VIRQ_*`, with the
 * vector and service worker involved where there are some) for what goes wrong while it runs, and
 * Node-style argument errors (TypeError / RangeError with `code`) for bad options and arguments.
 */
import { VirqError, type VirqErrorCode } from '@virq/trigger';

export { argTypeError, argValueError, describe, outOfRange } from '@virq/trigger/internal';

/** Stable codes of {@link DispatchError} (see VirqErrorCode in @virq/trigger for each one's meaning). */
export type DispatchErrorCode = Extract<
  VirqErrorCode,
  | 'ERR_VIRQ_STATE'
  | 'ERR_VIRQ_HANDLER'
  | 'ERR_VIRQ_THREAD'
  | 'ERR_VIRQ_WORKER'
  | 'ERR_VIRQ_MODULE'
  | 'ERR_VIRQ_TIMEOUT'
  | 'ERR_VIRQ_STATS_FILE'
  | 'ERR_VIRQ_VECTORS'
>;

/** A dispatcher failure with an `ERR_VIRQ_*` code, optionally naming a vector and a worker. */
export class DispatchError extends VirqError {
  /** Stable code, see {@link DispatchErrorCode}. */
  declare readonly code: DispatchErrorCode;
  /** The vector involved, when there is one. */
  readonly vector: number | undefined;
  /** The service worker slot involved, when there is one. */
  readonly workerId: number | undefined;

  constructor(
    code: DispatchErrorCode,
    message: string,
    extra: { vector?: number; workerId?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: extra.cause });
    this.name = 'DispatchError';
    this.vector = extra.vector;
    this.workerId = extra.workerId;
  }
}

/**
 * Turns anything a worker reports (an Error, a structured-clone of one, a thrown primitive) into an
 * Error, keeping message and stack when there are some.
 */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'object' && value !== null && 'message' in value) {
    const err = new Error(String((value as { message: unknown }).message));
    const stack = (value as { stack?: unknown }).stack;
    if (typeof stack === 'string') err.stack = stack;
    return err;
  }
  return new Error(String(value));
}

/** The payload of an 'error' event. */
export interface DispatchErrorEvent {
  /** The vector involved, if one was (the handler that threw, or ran when its worker died). */
  vector?: number;
  /** Service-worker slot, for handler and worker errors. */
  workerId?: number;
  error: DispatchError;
}
