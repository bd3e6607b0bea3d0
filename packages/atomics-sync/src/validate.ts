/**
 * Argument checks shared by every primitive. Each throws a TypeError or RangeError whose message says
 * what was wrong and what is expected, so a bad handle fails at attach time rather than as a torn
 * value later.
 */

/** Throws a TypeError unless `buffer` is a SharedArrayBuffer (Atomics.wait needs shared memory). */
export function assertShared(buffer: unknown, what: string): asserts buffer is SharedArrayBuffer {
  if (!(buffer instanceof SharedArrayBuffer)) {
    const got =
      buffer === null ? 'null' : typeof buffer === 'object' ? buffer.constructor.name : typeof buffer;
    throw new TypeError(`${what}: buffer must be a SharedArrayBuffer, got ${got}`);
  }
}

/** Throws a RangeError unless `offset` is a non-negative integer multiple of `alignment`. */
export function assertOffset(offset: unknown, alignment: number, what: string): asserts offset is number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new RangeError(`${what}: offset must be a non-negative integer, got ${String(offset)}`);
  }
  if (offset % alignment !== 0) {
    throw new RangeError(`${what}: offset ${offset} is misaligned; expected a multiple of ${alignment}`);
  }
}

/** Throws a RangeError unless `[offset, offset + bytes)` lies inside `buffer`. */
export function assertFits(buffer: SharedArrayBuffer, offset: number, bytes: number, what: string): void {
  if (offset + bytes > buffer.byteLength) {
    throw new RangeError(
      `${what}: buffer too small; needs ${bytes} bytes at offset ${offset} (${offset + bytes} in all), ` +
        `buffer has ${buffer.byteLength}`,
    );
  }
}

/** Throws a RangeError unless `n` is a power-of-two integer in [min, max]. */
export function assertPowerOfTwo(n: unknown, what: string, min = 1, max = 2 ** 30): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max || (n & (n - 1)) !== 0) {
    throw new RangeError(
      `${what}: capacity must be a power of two between ${min} and ${max}, got ${String(n)}`,
    );
  }
}

/** Throws a RangeError unless `n` is an integer in [min, max]. */
export function assertInt(n: unknown, min: number, max: number, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${what}: expected an integer between ${min} and ${max}, got ${String(n)}`);
  }
}
