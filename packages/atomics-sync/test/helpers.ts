/**
 * Test helpers: start fixture workers, await every one's 'exit', and check that nothing leaked
 * (no worker still running, no new entry in /proc/self/fd).
 */
import { readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ExecutionContext } from 'ava';

/** The fds this process holds now. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

/** One started fixture worker: its first posted message and its exit code. */
export interface Started<R> {
  worker: Worker;
  /** The first message the worker posts (rejects if it errors or exits without posting). */
  result: Promise<R>;
  /** Resolves with the exit code once the thread is gone. */
  exited: Promise<number>;
}

/**
 * Tracks the workers a test starts, so it can await all their exits and check for leaks. Create one
 * per test, call {@link WorkerScope.finish} at the end (it asserts). If the test fails before that, a
 * teardown terminates whatever is still running, so a stuck worker cannot hang the run.
 */
export class WorkerScope {
  private readonly fdsBefore = openFds();
  private readonly started: Started<unknown>[] = [];
  private readonly running = new Set<Worker>();

  constructor(t: ExecutionContext) {
    t.teardown(async () => {
      await Promise.all([...this.running].map((w) => w.terminate()));
    });
  }

  /** Starts `test/fixtures/<name>.js` (compiled) with `workerData`. */
  start<R>(name: string, workerData: unknown): Started<R> {
    const worker = new Worker(new URL(`./fixtures/${name}.js`, import.meta.url), { workerData });
    this.running.add(worker);
    const exited = new Promise<number>((resolve) =>
      worker.once('exit', (code) => {
        this.running.delete(worker);
        resolve(code);
      }),
    );
    const result = new Promise<R>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      exited.then((code) => reject(new Error(`worker ${name} exited (code ${code}) without a result`)));
    });
    result.catch(() => {}); // observed by the test; avoid an unhandled rejection if it never awaits
    const s: Started<R> = { worker, result, exited };
    this.started.push(s as Started<unknown>);
    return s;
  }

  /** Awaits every worker's exit; asserts each exited 0 and that no fd was left open. */
  async finish(t: ExecutionContext): Promise<void> {
    const codes = await Promise.all(this.started.map((s) => s.exited));
    t.deepEqual(
      codes,
      codes.map(() => 0),
      'every worker exited with code 0',
    );
    t.deepEqual(openFds(), this.fdsBefore, 'no fd left open');
  }
}

/** A small xorshift PRNG so workers' "random" timings are reproducible from a seed. */
export function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/** Sleeps the calling thread `ms` milliseconds without burning a core. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepWord, 0, 0, ms);
}

const sleepWord = new Int32Array(new SharedArrayBuffer(4));
