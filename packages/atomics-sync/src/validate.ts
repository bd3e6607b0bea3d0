/**
 * Argument checks shared by every primitive. Each throws a TypeError or RangeError whose message says
 * what was wrong and what is expected, so a bad handle fails at attach time rather than as a torn
 * value later. Every error carries a stable `code` (see {@link SyncErrorCode}).
 */
import { syncError } from './errors.js';

/** Throws a TypeError unless `buffer` is a SharedArrayBuffer (Atomics.wait needs shared memory). */
export function assertShared(buffer: unknown, what: string): asserts buffer is SharedArrayBuffer {
  if (!(buffer instanceof SharedArrayBuffer)) {
    const got =
      buffer === null
        ? 'null'
        : typeof buffer === 'object'
          ? (buffer.constructor?.name ?? 'object')
          : typeof buffer;
    throw syncError(TypeError, 'ERR_NOT_SHARED', `${what}: buffer must be a SharedArrayBuffer, got ${got}`);
  }
}

/** Throws a RangeError unless `offset` is a non-negative integer multiple of `alignment`. */
export function assertOffset(offset: unknown, alignment: number, what: string): asserts offset is number {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw syncError(
      RangeError,
      'ERR_BAD_OFFSET',
      `${what}: offset must be a non-negative integer, got ${String(offset)}`,
    );
  }
  if (offset % alignment !== 0) {
    throw syncError(
      RangeError,
      'ERR_MISALIGNED',
      `${what}: offset ${offset} is misaligned; expected a multiple of ${alignment}`,
    );
  }
}

/** Throws a RangeError unless `[offset, offset + bytes)` lies inside `buffer`. */
export function assertFits(buffer: SharedArrayBuffer, offset: number, bytes: number, what: string): void {
  if (offset + bytes > buffer.byteLength) {
    throw syncError(
      RangeError,
      'ERR_BUFFER_TOO_SMALL',
      `${what}: buffer too small; needs ${bytes} bytes at offset ${offset} (${offset + bytes} in all), ` +
        `buffer has ${buffer.byteLength}`,
    );
  }
}

/** Throws a RangeError unless `n` is a power-of-two integer in [min, max]. */
export function assertPowerOfTwo(n: unknown, what: string, min = 1, max = 2 ** 30): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max || (n & (n - 1)) !== 0) {
    throw syncError(
      RangeError,
      'ERR_NOT_POWER_OF_TWO',
      `${what}: capacity must be a power of two between ${min} and ${max}, got ${String(n)}`,
    );
  }
}

/** Throws a RangeError unless `n` is an integer in [min, max]. */
export function assertInt(n: unknown, min: number, max: number, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw syncError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `${what}: expected an integer between ${min} and ${max}, got ${String(n)}`,
    );
  }
}

/**
 * Normalises a timeout in milliseconds: `undefined` and `Infinity` mean wait forever, any other value
 * must be a finite number >= 0 (fractions allowed). NaN and negatives throw a RangeError, where
 * `Atomics.wait` would silently read NaN as forever.
 */
export function checkTimeout(timeoutMs: unknown, what: string, method?: string): number {
  if (timeoutMs === undefined) return Number.POSITIVE_INFINITY;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw syncError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `${method ? `${what}.${method}` : what}: timeout must be a number of milliseconds >= 0 or Infinity, got ${String(timeoutMs)}`,
    );
  }
  return timeoutMs;
}

/**
 * Normalises a spin count: `undefined` means `fallback`; otherwise an integer in [0, 2^30]. The name
 * `what.method` is only assembled for the message, so hot paths pass constant strings.
 */
export function checkSpin(spin: unknown, fallback: number, what: string, method?: string): number {
  if (spin === undefined) return fallback;
  if (typeof spin !== 'number' || !Number.isInteger(spin) || spin < 0 || spin > 2 ** 30) {
    throw syncError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `${method ? `${what}.${method}` : what}: spin iterations must be an integer between 0 and ${2 ** 30}, got ${String(spin)}`,
    );
  }
  return spin;
}

/** Throws a TypeError unless `handle` is an object (a structured-cloned handle is a plain object). */
export function assertHandle(handle: unknown, what: string): asserts handle is Record<string, unknown> {
  if (handle === null || typeof handle !== 'object') {
    throw syncError(
      TypeError,
      'ERR_INVALID_ARG',
      `${what}.from: handle must be an object { buffer, offset, ... }, got ${handle === null ? 'null' : typeof handle}`,
    );
  }
}

/** Throws a TypeError unless `arr` is an Int32Array. */
export function assertInt32Array(arr: unknown, what: string): asserts arr is Int32Array {
  if (!(arr instanceof Int32Array)) {
    const got =
      arr === null ? 'null' : typeof arr === 'object' ? (arr.constructor?.name ?? 'object') : typeof arr;
    throw syncError(TypeError, 'ERR_INVALID_ARG', `${what}: expected an Int32Array, got ${got}`);
  }
}

/**
 * Checks buffer, offset alignment and fit in one go: the full attach-time check every constructor runs.
 */
export function assertRegion(
  buffer: unknown,
  offset: unknown,
  alignment: number,
  bytes: number,
  what: string,
): asserts buffer is SharedArrayBuffer {
  assertShared(buffer, what);
  assertOffset(offset, alignment, what);
  assertFits(buffer, offset, bytes, what);
}

/** A TypeError with code `ERR_INVALID_ARG`, prefixed with `what`. */
export function syncArgError(what: string, message: string): Error {
  return syncError(TypeError, 'ERR_INVALID_ARG', `${what}: ${message}`);
}
