/**
 * Test helpers: leak checks (fds and OS threads), waiting on counters, raiser threads, and the
 * record layout of fixtures/record-handler.ts.
 */
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { VectorTableHandle } from '@virq/core';
import { isAvailable } from '@virq/native';
import type { ExecutionContext } from 'ava';
import type { Dispatcher } from '../src/index.js';

/** The fds this process holds now. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort((a, b) => Number(a) - Number(b));
}

/** OS threads of this process now (every Worker, piscina's included, is one). */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/**
 * Starts what a process starts lazily (libuv's thread pool, the native addon) so it does not look
 * like a leak in the first test that triggers it.
 */
export async function warmUp(): Promise<void> {
  await stat('.');
  isAvailable();
}

/** Snapshot of fds and threads, checked by {@link Leaks.check}. */
export class Leaks {
  private readonly fds = openFds();
  private readonly threads = threadCount();

  /**
   * Asserts no new fd and no extra thread. A Worker's 'exit' fires as its thread ends; allow the
   * OS a moment to reap it before comparing.
   */
  async check(t: ExecutionContext): Promise<void> {
    await waitFor(() => threadCount() <= this.threads, 10_000, 'threads to exit').catch(() => {});
    t.is(threadCount(), this.threads, 'no worker thread left');
    t.deepEqual(openFds(), this.fds, 'no fd left open');
  }
}

/** Polls `cond` every few ms until true; rejects after `timeoutMs` naming `what`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until every raise of every vector was consumed (nothing pending) and handled. */
export async function quiesce(d: Dispatcher, raised: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    () => {
      const s = d.stats().totals;
      return s.raised === raised && s.pending === 0;
    },
    timeoutMs,
    `all ${raised} raises to be consumed`,
  );
}

/** Words per vector row in record-handler's buffer. */
export const W = 16;
/** Word offsets in a record-handler row. */
export const R = {
  CALLS: 0,
  SUM: 1,
  LAST_SEEN: 2,
  ORDER_BAD: 3,
  INSIDE: 4,
  OVERLAP: 5,
  MASKED_CALLS: 6,
  THREAD_RUNS: 7,
  THREAD_INSIDE: 8,
  THREAD_OVERLAP: 9,
  POLL_CALLS: 10,
} as const;

/** Reads record-handler rows. */
export class Records {
  readonly buf: SharedArrayBuffer;
  readonly seq: SharedArrayBuffer;
  private readonly rows: Int32Array;

  constructor(readonly vectors: number) {
    this.buf = new SharedArrayBuffer(vectors * W * 4);
    this.seq = new SharedArrayBuffer(vectors * 4);
    this.rows = new Int32Array(this.buf);
  }

  get(pos: number, word: number): number {
    return Atomics.load(this.rows, pos * W + word);
  }

  sum(word: number): number {
    let s = 0;
    for (let p = 0; p < this.vectors; p++) s += this.get(p, word);
    return s;
  }
}

/** Word offsets in fixtures/intx-handler.ts's control buffer. */
export const IX = {
  CALLS: 0,
  SUM: 1,
  RUNNING: 2,
  GO: 3,
  MASKED_SEEN: 4,
  /** The handler calls ctx.mask() on this call (1-based), before returning. */
  MASK_ON_CALL: 5,
  INSIDE: 6,
  OVERLAP: 7,
  /** The handler calls process.exit(7) on this call (1-based), once. */
  EXIT_ON_CALL: 8,
} as const;

/** The INTx handler fixture's URL. */
export const INTX_HANDLER = new URL('./fixtures/intx-handler.js', import.meta.url);

/** The handler fixture's URL. */
export const RECORD_HANDLER = new URL('./fixtures/record-handler.js', import.meta.url);

/** Raiser thread options (see fixtures/raiser.ts). */
export interface RaiserOptions {
  table: VectorTableHandle;
  index: number;
  /** Vector numbers by position. */
  vectors: number[];
  /** Positions this raiser raises; default all. */
  positions?: number[];
  /** Raises per vector. */
  rounds: number;
  /** Per-position sequence words bumped before each raise. */
  seq: SharedArrayBuffer;
  seed: number;
}

/** Runs raiser threads to completion; resolves with the raises each made that were accepted. */
export async function raise(opts: RaiserOptions[]): Promise<number> {
  const results = await Promise.all(
    opts.map(
      (o) =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(new URL('./fixtures/raiser.js', import.meta.url), { workerData: o });
          let result: number | undefined;
          w.once('message', (m: number) => {
            result = m;
          });
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code === 0 && result !== undefined) resolve(result);
            else reject(new Error(`raiser exited with code ${code}`));
          });
        }),
    ),
  );
  return results.reduce((a, b) => a + b, 0);
}

/** 0..n-1. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
