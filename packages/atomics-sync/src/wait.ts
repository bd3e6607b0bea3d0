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

/** One sleep a wait loop asks for: `Atomics.wait(i32, index, value, ms)`. */
export interface Sleep {
  readonly i32: Int32Array;
  readonly index: number;
  readonly value: number;
  readonly ms: number;
}

/**
 * A primitive's sleep loop, written once for both ways to sleep: it yields each sleep it wants and
 * returns its answer; {@link sleepSync} and {@link sleepAsync} carry the sleeps out. What a loop does
 * around a sleep (announce, re-check, retract) is then the same code in `lock()` and `lockAsync()`.
 */
export type SleepLoop<R> = Generator<Sleep, R, void>;

/** Runs `loop` with `Atomics.wait` (blocks the thread). */
export function sleepSync<R>(loop: SleepLoop<R>): R {
  for (let r = loop.next(); ; r = loop.next()) {
    if (r.done) return r.value;
    const s = r.value;
    Atomics.wait(s.i32, s.index, s.value, s.ms);
  }
}

/** Runs `loop` with {@link waitAsyncRef} (the thread stays free; the process is kept alive). */
export async function sleepAsync<R>(loop: SleepLoop<R>): Promise<R> {
  let r = loop.next();
  while (!r.done) {
    const s = r.value;
    try {
      await waitAsyncRef(s.i32, s.index, s.value, s.ms);
    } catch (e) {
      r = loop.throw(e); // runs the loop's finally (its retraction), then rethrows
      continue;
    }
    r = loop.next();
  }
  return r.value;
}

/**
 * The announce-then-recheck sleep of a waiter counted in `i32[waiters]`, until `ready(target)` or the
 * deadline. The waker changes `i32[word]` first and reads the count after, so either it sees this
 * waiter's announcement (and notifies), or its change came before the re-check here (which then sees
 * it, or `Atomics.wait`'s own comparison does). No wake-up can be lost.
 * @param idle the value of `i32[word]` while not ready (a semaphore's count 0, an event's state 0), or
 * null for a word that moves (a ring's HEAD): then the value read after the announcement.
 */
export function* countedSleep<T>(
  i32: Int32Array,
  word: number,
  waiters: number,
  idle: number | null,
  ready: (target: T) => boolean,
  target: T,
  deadline: number,
): SleepLoop<boolean> {
  for (;;) {
    Atomics.add(i32, waiters, 1);
    const value = idle ?? Atomics.load(i32, word);
    if (ready(target)) {
      Atomics.sub(i32, waiters, 1);
      return true;
    }
    const left = remainingUntil(deadline);
    try {
      if (left > 0) yield { i32, index: word, value, ms: left };
    } finally {
      Atomics.sub(i32, waiters, 1);
    }
    if (ready(target)) return true;
    if (left === 0 || remainingUntil(deadline) === 0) return false;
  }
}
