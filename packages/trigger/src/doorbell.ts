/**
 * Doorbells are atomics-sync's `Doorbell` (a futex word plus a ready set: `ring(id)` marks `id` ready
 * and wakes the waiter; the waiter drains every ready id per wake). Core only rings them, so the types
 * it asks for are the ringing slice of that class.
 */
import type { Doorbell, DoorbellHandle as SyncDoorbellHandle } from 'atomics-sync';

/** Structured-cloneable description of a Doorbell: atomics-sync's `DoorbellHandle`. */
export type DoorbellHandle = SyncDoorbellHandle;

/** What core needs of a Doorbell (atomics-sync's `Doorbell` is one): its handle, and `ring(id)`. */
export type DoorbellLike = Pick<Doorbell, 'handle' | 'ring'>;
