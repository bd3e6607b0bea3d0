/**
 * Stable error codes. Every error this package throws carries one of these in its `code` property, so
 * callers branch on `err.code` rather than on message text (which may be reworded).
 */
export type SyncErrorCode =
  /** The buffer is not a SharedArrayBuffer (TypeError). */
  | 'ERR_NOT_SHARED'
  /** The offset is negative or not an integer (RangeError). */
  | 'ERR_BAD_OFFSET'
  /** The offset is not a multiple of the primitive's alignment (RangeError). */
  | 'ERR_MISALIGNED'
  /** The primitive does not fit in the buffer at that offset (RangeError). */
  | 'ERR_BUFFER_TOO_SMALL'
  /** A capacity that must be a power of two is not one, or is out of bounds (RangeError). */
  | 'ERR_NOT_POWER_OF_TWO'
  /** A number (id, count, timeout, spin count, index) is outside its allowed range (RangeError). */
  | 'ERR_OUT_OF_RANGE'
  /** An argument has the wrong type, e.g. a handle that is not an object (TypeError). */
  | 'ERR_INVALID_ARG'
  /** `Mutex.unlock()` on a mutex that is not locked (Error). */
  | 'ERR_NOT_LOCKED'
  /** A convenience wrapper (e.g. `Mutex.withLock`) could not acquire within its timeout (Error). */
  | 'ERR_TIMEOUT';

/** An Error (or TypeError/RangeError) that carries a {@link SyncErrorCode}. */
export type SyncError = Error & { readonly code: SyncErrorCode };

/** Builds an error of class `Ctor` with `message` and a stable `code`. */
export function syncError(
  Ctor: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor,
  code: SyncErrorCode,
  message: string,
): SyncError {
  const err = new Ctor(message) as Error & { code: SyncErrorCode };
  err.code = code;
  return err;
}

/** True if `err` is an error thrown by this package (it has one of the {@link SyncErrorCode} codes). */
export function isSyncError(err: unknown): err is SyncError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    CODES.has((err as SyncError).code)
  );
}

const CODES: ReadonlySet<string> = new Set<SyncErrorCode>([
  'ERR_NOT_SHARED',
  'ERR_BAD_OFFSET',
  'ERR_MISALIGNED',
  'ERR_BUFFER_TOO_SMALL',
  'ERR_NOT_POWER_OF_TWO',
  'ERR_OUT_OF_RANGE',
  'ERR_INVALID_ARG',
  'ERR_NOT_LOCKED',
  'ERR_TIMEOUT',
]);
