/**
 * Test helpers: leak checks (fds and OS threads), waiting on counters, raiser threads, and the
 * record layout of fixtures/record-handler.ts.
 */
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { SoftDevice, type VectorTableHandle, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { isAvailable } from '@virq/native';
import type { ExecutionContext } from 'ava';
import { type DispatchErrorEvent, Dispatcher, type DispatcherOptions } from '../src/index.js';

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
  /** Consecutive calls made while the vector was masked in the device's table (needs `data.table`). */
  MASKED_RUN: 11,
  /** The longest such run. */
  MAX_MASKED_RUN: 12,
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

/** Options of {@link withDispatcher}: Dispatcher options minus the parts it fills in. */
export interface RecordedOptions extends Omit<DispatcherOptions, 'device' | 'vectors' | 'module' | 'data'> {
  /** Vectors 0..n-1 of an n-vector MSI-X SoftDevice. */
  vectors: number;
  /** Record-handler behaviour, merged into its `data` (buf, seq and vectors are filled in). */
  data?: Record<string, unknown>;
  /** The handler module; default the record handler (which reads `data` as set up here). */
  module?: string | URL;
  /** Start the dispatcher before returning; default true. */
  start?: boolean;
  /** Give the record handler the device's table: it records masked runs (R.MAX_MASKED_RUN). */
  recordMasked?: boolean;
}

/** What {@link withDispatcher} sets up. */
export interface Recorded {
  dev: SoftDevice;
  rec: Records;
  d: Dispatcher;
  /** Every 'error' event. */
  errors: DispatchErrorEvent[];
  /** Slots of every 'restart' event. */
  restarts: number[];
  /** Raiser threads over all vectors (or `positions`); resolves with the raises accepted. */
  storm(rounds: number, o?: { raisers?: number; seed?: number; positions?: number[] }): Promise<number>;
  /**
   * Asserts the accounting against what the test itself raised: each vector's `raised` is
   * `perVector` (one number for all, or one per position) and the total their sum, no raise went
   * unrouted, and raised = delivered + coalesced + pending + dropped with nothing pending or dropped.
   * Call it once everything was consumed ({@link quiesce}).
   */
  account(perVector: number | readonly number[], what?: string): void;
  /** Stops the dispatcher and checks that no worker thread or fd is left. */
  finish(): Promise<void>;
}

/**
 * The accounting check of {@link Recorded.account}, for a dispatcher over vectors 0..n-1 of `dev`'s
 * MSI-X index: `perVector[pos]` is what the test raised on vector pos (and any foreign signals it
 * made, which the table counts into raised when consumed).
 */
export function assertRaised(
  t: ExecutionContext,
  d: Dispatcher,
  dev: SoftDevice,
  perVector: number | readonly number[],
  what = 'the test',
): void {
  const s = d.stats();
  const n = s.vectors.length;
  const want = typeof perVector === 'number' ? new Array<number>(n).fill(perVector) : [...perVector];
  t.is(want.length, n, 'one expected count per vector');
  const got = s.vectors.map((v) => v.raised);
  // One deepEqual (not n assertions) so a failure shows every vector that is off.
  t.deepEqual(got, want, `raised per vector is what ${what} raised`);
  t.is(
    s.totals.raised,
    want.reduce((a, b) => a + b, 0),
    `raised in total is what ${what} raised`,
  );
  const unrouted = range(n).map((v) => dev.vectorTable.counters(VFIO_PCI_MSIX_IRQ_INDEX, v).unrouted);
  t.deepEqual(unrouted, new Array<number>(n).fill(0), 'no raise went unrouted');
  t.is(
    s.totals.raised,
    s.totals.delivered + s.totals.coalesced + s.totals.pending + s.totals.dropped,
    'raised = delivered + coalesced + pending + dropped',
  );
  t.is(s.totals.pending, 0, 'nothing left pending');
  t.is(s.totals.dropped, 0, 'nothing dropped');
}

/**
 * The common test set-up: a leak snapshot, an n-vector SoftDevice, record-handler rows and a
 * Dispatcher servicing all n vectors with the record handler (started unless `start: false`),
 * collecting its events. The dispatcher is also stopped in teardown, so a failing test leaves
 * nothing running; `finish()` is the explicit stop plus leak check.
 */
export async function withDispatcher(t: ExecutionContext, o: RecordedOptions): Promise<Recorded> {
  const leaks = new Leaks();
  const { vectors: n, data, start = true, recordMasked = false, ...rest } = o;
  const dev = new SoftDevice({ msix: { vectors: n } });
  const rec = new Records(n);
  const d = new Dispatcher({
    module: RECORD_HANDLER,
    ...rest,
    device: dev,
    vectors: n,
    data: {
      buf: rec.buf,
      seq: rec.seq,
      vectors: range(n),
      ...(recordMasked ? { table: dev.vectorTable.handle } : {}),
      ...data,
    },
  });
  const errors: DispatchErrorEvent[] = [];
  const restarts: number[] = [];
  d.on('error', (e) => errors.push(e));
  d.on('restart', (e: { workerId: number }) => restarts.push(e.workerId));
  t.teardown(() => d.stop());
  if (start) await d.start();
  return {
    dev,
    rec,
    d,
    errors,
    restarts,
    storm: (rounds, { raisers = 2, seed = 99, positions } = {}) =>
      raise(
        range(raisers).map((i) => ({
          table: dev.vectorTable.handle,
          index: VFIO_PCI_MSIX_IRQ_INDEX,
          vectors: range(n),
          positions,
          rounds,
          seq: rec.seq,
          seed: seed + i,
        })),
      ),
    account: (perVector, what) => assertRaised(t, d, dev, perVector, what),
    finish: async () => {
      await d.stop();
      await leaks.check(t);
    },
  };
}
