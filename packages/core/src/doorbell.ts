/**
 * The slice of atomics-sync's Doorbell that core uses, looked up at run time so core builds and runs
 * against whichever atomics-sync is installed. A Doorbell is a futex word plus a ready set: `ring(id)`
 * marks `id` ready and wakes the waiter; the waiter drains every ready id per wake.
 */
import * as atomicsSync from 'atomics-sync';

/** Structured-cloneable description of a Doorbell (atomics-sync's `Doorbell.handle`). */
export interface DoorbellHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  capacity: number;
}

/** What core needs of a Doorbell. */
export interface DoorbellLike {
  readonly handle: DoorbellHandle;
  ring(id: number): void;
}

interface DoorbellClass {
  byteLength(capacity: number): number;
  new (buffer: SharedArrayBuffer, offset: number, capacity: number): DoorbellLike;
  from(h: DoorbellHandle): DoorbellLike;
}

/** atomics-sync's Doorbell class; throws a clear error if the installed atomics-sync lacks it. */
export function doorbellClass(): DoorbellClass {
  const cls = (atomicsSync as unknown as { Doorbell?: DoorbellClass }).Doorbell;
  if (typeof cls !== 'function') {
    throw new Error('atomics-sync does not export Doorbell: build packages/atomics-sync first');
  }
  return cls;
}
