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

/** A primitive sized by one number (bits, ids, slots): its constructor attaches, without writing. */
export interface SizedClass<T> {
  new (buffer: SharedArrayBuffer, offset: number, n: number): T;
  byteLength(n: number): number;
}

/** A sized primitive that can also write its initial state: what {@link sizedSpec} builds a spec from. */
export interface SizedPrimitive<T> extends SizedClass<T> {
  init(buffer: SharedArrayBuffer, offset: number, n: number): T;
}

/** The {@link PrimitiveSpec} of the sized primitive `cls` with `n` (its `spec(n)`). */
export function sizedSpec<T>(
  kind: string,
  cls: SizedPrimitive<T>,
  n: number,
  alignment: number,
): PrimitiveSpec<T> {
  return {
    kind,
    byteLength: cls.byteLength(n),
    alignment,
    init: (b, o) => cls.init(b, o, n),
    attach: (b, o) => new cls(b, o, n),
  };
}
