/**
 * What {@link layout} needs to know about a primitive to place it in a shared buffer: its size, where it
 * may start, how to write its initial state, and how to attach to it. Every primitive has a static
 * `spec(...)` that returns one.
 */
export interface PrimitiveSpec<T> {
  /** Class name, for messages. */
  readonly kind: string;
  /** Bytes the primitive occupies. */
  readonly byteLength: number;
  /**
   * Alignment in bytes that {@link layout} places it at. At least the primitive's required `alignment`;
   * rings ask for a 64-byte cache line so their producer and consumer indices do not share one.
   */
  readonly alignment: number;
  /** Writes the initial state (zeroing the region first) and returns the attached instance. */
  init(buffer: SharedArrayBuffer, offset: number): T;
  /** Attaches to already initialised memory without writing to it. */
  attach(buffer: SharedArrayBuffer, offset: number): T;
}

/** Size of a cache line on the x86-64/arm64 machines this targets. */
export const CACHE_LINE = 64;

/** Zeroes `[offset, offset + bytes)` of `buffer`. Only for init, before any other thread attaches. */
export function zeroRegion(buffer: SharedArrayBuffer, offset: number, bytes: number): void {
  new Uint8Array(buffer, offset, bytes).fill(0);
}
