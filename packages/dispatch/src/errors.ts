/**
 * Errors raised by the dispatcher. Every one carries a stable errno-style `code` so callers can branch
 * on it without parsing messages, and, where one is involved, the vector and the service worker.
 */

/** Stable error codes used by {@link DispatchError}. */
export type DispatchErrorCode =
  /** An argument is out of range or malformed. */
  | 'EINVAL'
  /** The dispatcher is not in a state that allows the call (not started, already stopped...). */
  | 'ESTATE'
  /** A top-half `handler` threw. */
  | 'EHANDLER'
  /** A deferred `thread` run threw, or its pool worker died under it. */
  | 'ETHREAD'
  /** A service worker crashed (uncaught error or nonzero exit) and was replaced. */
  | 'EWORKER'
  /** The handler module could not be loaded or does not export `handler`. */
  | 'EMODULE'
  /**
   * A bounded wait did not complete in time: for a worker (start, rebalance, stop), or for a
   * running handler of a vector being masked.
   */
  | 'ETIMEDOUT'
  /** Writing the stats file failed (reported through 'error'; the exporter keeps trying). */
  | 'EIO';

/** Error with an errno-style {@link DispatchErrorCode}, optionally naming a vector and a worker. */
export class DispatchError extends Error {
  /** Stable code, see {@link DispatchErrorCode}. */
  readonly code: DispatchErrorCode;
  /** The vector involved, when there is one. */
  readonly vector: number | undefined;
  /** The service worker slot involved, when there is one. */
  readonly workerId: number | undefined;

  constructor(
    code: DispatchErrorCode,
    message: string,
    extra: { vector?: number; workerId?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'DispatchError';
    this.code = code;
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
