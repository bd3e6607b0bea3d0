/**
 * Vector → service-worker affinity. Every serviced vector is owned by exactly one worker, which is
 * what keeps one vector's handler calls in order (the kernel gets the same from running a given
 * irq's handler on one CPU at a time).
 */
import { argValueError, outOfRange } from '@virq/handler/internal';

/**
 * How vectors are spread over service workers:
 * - `'spread'`: round robin, vector at position i → worker i mod workers (neighbouring queues on
 *   different workers, the way irqbalance spreads NIC queues);
 * - `'block'`: contiguous runs, the first ⌈n/workers⌉ vectors on worker 0 and so on;
 * - an explicit map: `Map<vector, worker>`, or a plain object keyed by vector number;
 * - a function `(vector, position, workers) => worker`.
 * Worker numbers are service-worker slots, 0 ≤ w < workers. A map must name every vector.
 */
export type AffinitySpec =
  | 'spread'
  | 'block'
  | ReadonlyMap<number, number>
  | Readonly<Record<number, number>>
  | ((vector: number, position: number, workers: number) => number);

/**
 * Resolves `spec` for `vectors` (vector numbers, in their serviced order) over `workers` slots.
 * Returns the owner slot of each vector by position. Throws an argument error (ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE) for a worker out of range, a
 * vector the map does not name, or a function that returns a non-integer.
 */
export function resolveAffinity(spec: AffinitySpec, vectors: readonly number[], workers: number): Int32Array {
  if (!Number.isInteger(workers) || workers < 1) {
    throw outOfRange(`affinity: workers must be a positive integer, got ${String(workers)}`);
  }
  const owners = new Int32Array(vectors.length);
  const n = vectors.length;
  const per = Math.ceil(n / workers);
  for (let i = 0; i < n; i++) {
    const vector = vectors[i];
    let w: unknown;
    if (spec === 'spread') w = i % workers;
    else if (spec === 'block') w = Math.floor(i / per);
    else if (typeof spec === 'function') w = spec(vector, i, workers);
    else if (spec instanceof Map) w = spec.get(vector);
    else if (typeof spec === 'object' && spec !== null) w = (spec as Record<number, number>)[vector];
    else throw argValueError(`affinity: unknown spec ${String(spec)}`);
    if (w === undefined) {
      throw argValueError(`affinity: no worker given for vector ${vector}`);
    }
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w >= workers) {
      throw outOfRange(
        `affinity: vector ${vector} mapped to worker ${String(w)}; expected an integer in [0, ${workers})`,
      );
    }
    owners[i] = w;
  }
  return owners;
}
