/**
 * The two ways to sleep on a 32-bit word, with deadlines, shared by every primitive.
 *
 * - Sync: `Atomics.wait`. Blocks the calling thread. Node allows it on the main thread too, but there it
 *   freezes the event loop, so main-thread code should use the async form.
 * - Async: `Atomics.waitAsync`. A pending waitAsync does NOT keep a Node process (or worker) alive: with
 *   nothing else scheduled, the process would exit with the promise never settled. While at least one
 *   async wait is pending, this module therefore holds one ref'd interval timer per thread (shared by
 *   all waits, cleared when the last one settles); an awaited lockAsync() behaves like an awaited
 *   socket read.
 */

/** What a single sleep ended with. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Milliseconds since an arbitrary origin, monotonic. */
export const now: () => number = () => performance.now();

/** Absolute deadline for a relative timeout (Infinity stays Infinity). */
export function deadlineOf(timeoutMs: number): number {
  return timeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : now() + timeoutMs;
}

/** Milliseconds left until `deadline`, never negative. */
export function remainingUntil(deadline: number): number {
  if (deadline === Number.POSITIVE_INFINITY) return deadline;
  const left = deadline - now();
  return Math.max(left, 0);
}

let keepAliveCount = 0;
let keepAliveTimer: ReturnType<typeof setInterval> | undefined;
const noop = (): void => {};

function holdProcess(): void {
  if (keepAliveCount++ === 0) keepAliveTimer = setInterval(noop, 0x7fffffff);
}

function releaseProcess(): void {
  if (--keepAliveCount === 0 && keepAliveTimer !== undefined) {
    clearInterval(keepAliveTimer);
    keepAliveTimer = undefined;
  }
}

/** Number of async waits currently pending in this thread (each holds the process alive). */
export function pendingAsyncWaits(): number {
  return keepAliveCount;
}

/**
 * `Atomics.waitAsync(i32, index, expected, timeoutMs)` as a promise, holding the process alive while it
 * is pending. Resolves 'not-equal' at once (next microtask) if the word does not hold `expected`.
 */
export function waitAsyncRef(
  i32: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
): Promise<WaitResult> {
  const r = Atomics.waitAsync(i32, index, expected, timeoutMs);
  if (!r.async) return Promise.resolve(r.value);
  holdProcess();
  return r.value.then(
    (v) => {
      releaseProcess();
      return v;
    },
    (e: unknown) => {
      releaseProcess();
      throw e;
    },
  );
}
