// atomics-sync micro-benchmarks. Every figure is reported beside a baseline measured in the same run:
//   1. ring ops in one thread (items/s)           vs a JS Array used as a queue (push + shift)
//   2. ring streaming main -> worker (items/s)    vs postMessage, one message per item
//   3. doorbell hand-off round trip main <-> worker, busy (consumer spinning) and sleeping (consumer in
//      Atomics.wait), a spin-before-sleep sweep, and the same with both threads pinned to one CPU
//      (taskset)  vs a raw Atomics.wait/notify ping-pong
//
// Usage: node dist/atomics-sync.bench.js [--json FILE] [--quick]
// Threads: the main thread plus at most one worker at a time (the machines have 2 vCPUs); the pinned
// suite runs in a child process under `taskset -c 0`.
//
// Method. Suite 1 is benchmark.js. The cross-thread suites are hand-rolled: benchmark.js pauses between
// samples for its bookkeeping, long enough for a spinning peer to give up and sleep, which would mix
// the regimes being compared. Each cross-thread case is measured right after its own baseline run,
// ROUNDS times; the reported ratio is the median of the per-pair ratios, so load from other processes
// (these machines are shared) moves both sides of a ratio together. Absolute values are medians too,
// and a latency measurement is the median of every round trip in its window (see timeRoundTrips).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DOORBELL_DEFAULT_SPIN, Doorbell, MpscRing, SpscRing } from 'atomics-sync';
import Benchmark from 'benchmark';
import { DONE, READY, type ScenarioRequest, STOP, STOP_ID } from './lib/atomics-sync-protocol.js';

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
if (jsonAt >= 0 && !jsonFile) throw new Error('--json needs a file name');
const quick = args.includes('--quick');
/** benchmark.js time budget per case, seconds. */
const MAX_TIME = quick ? 0.1 : 0.5;

interface Row {
  suite: string;
  name: string;
  /** 'items/s' (higher is better) or 'us/round trip' (lower is better). */
  unit: 'items/s' | 'us/round trip';
  value: number;
  /** Relative margin of error, percent (benchmark.js), or spread of repeated runs. */
  rme: number;
  /** Latency rows: the 90th percentile round trip (median over rounds), µs. */
  p90?: number;
  baseline: boolean;
  /** value / baseline value for items/s; baseline time / time for latency: > 1 is always better. */
  speedup?: number;
}
const rows: Row[] = [];

/** Runs one benchmark.js case synchronously; `perOp` scales ops/s to items/s. */
function bench(fn: () => void, perOp = 1): { hz: number; rme: number } {
  const b = new Benchmark(fn, { maxTime: MAX_TIME, minSamples: 5, initCount: 1 });
  b.run();
  if (b.error) throw b.error;
  return { hz: b.hz * perOp, rme: b.stats.rme };
}

function addSuite(suite: string, unit: Row['unit'], cases: Omit<Row, 'suite' | 'unit' | 'speedup'>[]): void {
  const base = cases.find((c) => c.baseline);
  if (!base) throw new Error(`${suite}: no baseline`);
  for (const c of cases) {
    const speedup = unit === 'items/s' ? c.value / base.value : base.value / c.value;
    rows.push({ suite, unit, ...c, speedup });
  }
}

// ── 1. Ring ops in one thread ────────────────────────────────────────────────────────────────────
function sameThread(): void {
  const cap = 1024;
  const spsc = SpscRing.init(new SharedArrayBuffer(SpscRing.byteLength(cap)), 0, cap);
  const mpsc = MpscRing.init(new SharedArrayBuffer(MpscRing.byteLength(cap)), 0, cap);
  const src = Int32Array.from({ length: 256 }, (_, i) => i);
  const dst = new Int32Array(256);
  const queue: number[] = [];
  let sink = 0;
  const cases = [
    {
      name: 'JS Array push+shift (baseline)',
      baseline: true,
      fn: () => {
        queue.push(sink);
        sink ^= queue.shift()!;
      },
      per: 1,
    },
    {
      name: 'SpscRing push+pop',
      baseline: false,
      fn: () => {
        spsc.push(sink);
        sink ^= spsc.pop()!;
      },
      per: 1,
    },
    {
      name: 'MpscRing push+pop',
      baseline: false,
      fn: () => {
        mpsc.push(sink);
        sink ^= mpsc.pop()!;
      },
      per: 1,
    },
    {
      name: 'SpscRing pushBatch+popBatch x256',
      baseline: false,
      fn: () => {
        spsc.pushBatch(src);
        sink ^= spsc.popBatch(dst);
      },
      per: 256,
    },
    {
      name: 'MpscRing pushBatch+popBatch x256',
      baseline: false,
      fn: () => {
        mpsc.pushBatch(src);
        sink ^= mpsc.popBatch(dst);
      },
      per: 256,
    },
  ];
  addSuite(
    'ring ops, one thread',
    'items/s',
    cases.map((c) => {
      const r = bench(c.fn, c.per);
      return { name: c.name, baseline: c.baseline, value: r.hz, rme: r.rme };
    }),
  );
  if (sink === 0x7fffffff) console.log(''); // keep `sink` observable
}

// ── worker plumbing ──────────────────────────────────────────────────────────────────────────────
async function startWorker(
  sc: ScenarioRequest,
): Promise<{ worker: Worker; ctl: Int32Array; exited: Promise<number> }> {
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const worker = new Worker(new URL('./lib/atomics-sync-worker.js', import.meta.url), {
    workerData: { ...sc, ctl: ctl.buffer },
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('exit', resolve);
    worker.once('error', reject);
  });
  while (Atomics.load(ctl, READY) === 0) {
    const r = Atomics.waitAsync(ctl, READY, 0, 10_000);
    if ((r.async ? await r.value : r.value) === 'timed-out')
      throw new Error(`${sc.kind} worker did not start`);
  }
  return { worker, ctl, exited };
}

async function waitDone(ctl: Int32Array): Promise<void> {
  while (Atomics.load(ctl, DONE) === 0) {
    const r = Atomics.waitAsync(ctl, DONE, 0, 30_000);
    if ((r.async ? await r.value : r.value) === 'timed-out') throw new Error('consumer never finished');
  }
}

// ── 2. Streaming main -> worker ──────────────────────────────────────────────────────────────────
async function streamRing(kind: 'spsc' | 'mpsc', batch: number, total: number): Promise<number> {
  const cap = 4096;
  const ring =
    kind === 'spsc'
      ? SpscRing.init(new SharedArrayBuffer(SpscRing.byteLength(cap)), 0, cap)
      : MpscRing.init(new SharedArrayBuffer(MpscRing.byteLength(cap)), 0, cap);
  const w = await startWorker({ kind, ring: ring.handle, total, batch });
  const src = Int32Array.from({ length: 256 }, (_, i) => i);
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    let n: number;
    if (batch > 1) n = ring.pushBatch(src, 0, Math.min(batch, total - sent));
    else n = ring.push(sent & 255) ? 1 : 0;
    sent += n;
    if (n === 0) ring.waitWritable();
  }
  await waitDone(w.ctl);
  const rate = total / ((performance.now() - t0) / 1000);
  await w.exited;
  return rate;
}

async function streamPostMessage(total: number): Promise<number> {
  const w = await startWorker({ kind: 'postmessage', total });
  const t0 = performance.now();
  for (let i = 0; i < total; i++) w.worker.postMessage(i & 255);
  await waitDone(w.ctl);
  const rate = total / ((performance.now() - t0) / 1000);
  await w.exited;
  return rate;
}

/** Rounds of (baseline, case) pairs for the cross-thread suites. */
const ROUNDS = quick ? 1 : 3;

/** One measurement: a rate or a median latency, and for latencies the 90th percentile. */
interface Measure {
  value: number;
  p90?: number;
}

function median(xs: number[]): number {
  const ys = [...xs].sort((a, b) => a - b);
  const m = ys.length >> 1;
  return ys.length % 2 ? ys[m] : (ys[m - 1] + ys[m]) / 2;
}

/**
 * Measures every case right after a fresh baseline run, ROUNDS times, and adds the suite: value =
 * median of the case's runs; speedup = median of per-pair ratios; rme = half the ratio's spread, in %.
 */
async function paired(
  suite: string,
  unit: Row['unit'],
  baseline: { name: string; run: () => Promise<Measure> },
  cases: { name: string; run: () => Promise<Measure> }[],
): Promise<void> {
  const base: number[] = [];
  const baseP90: number[] = [];
  const vals = cases.map(() => [] as number[]);
  const p90s = cases.map(() => [] as number[]);
  const ratios = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < cases.length; i++) {
      const b = await baseline.run();
      const v = await cases[i].run();
      base.push(b.value);
      if (b.p90 !== undefined) baseP90.push(b.p90);
      vals[i].push(v.value);
      if (v.p90 !== undefined) p90s[i].push(v.p90);
      ratios[i].push(unit === 'items/s' ? v.value / b.value : b.value / v.value);
    }
  }
  const p90 = (xs: number[]) => (xs.length > 0 ? median(xs) : undefined);
  const spread = (xs: number[]) => ((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100;
  rows.push({
    suite,
    unit,
    name: baseline.name,
    value: median(base),
    rme: spread(base),
    p90: p90(baseP90),
    baseline: true,
    speedup: 1,
  });
  cases.forEach((c, i) => {
    rows.push({
      suite,
      unit,
      name: c.name,
      value: median(vals[i]),
      rme: spread(ratios[i]),
      p90: p90(p90s[i]),
      baseline: false,
      speedup: median(ratios[i]),
    });
  });
}

async function streaming(): Promise<void> {
  const n = quick ? 200_000 : 1_000_000;
  await paired(
    'ring streaming, main -> 1 worker',
    'items/s',
    {
      name: 'postMessage, one item per message (baseline)',
      run: async () => ({ value: await streamPostMessage(quick ? 20_000 : 60_000) }),
    },
    [
      { name: 'SpscRing push/pop', run: async () => ({ value: await streamRing('spsc', 1, n) }) },
      {
        name: 'SpscRing pushBatch/popBatch 256',
        run: async () => ({ value: await streamRing('spsc', 256, n * 4) }),
      },
      { name: 'MpscRing push/pop', run: async () => ({ value: await streamRing('mpsc', 1, n) }) },
      {
        name: 'MpscRing pushBatch/popBatch 256',
        run: async () => ({ value: await streamRing('mpsc', 256, n * 4) }),
      },
    ],
  );
}

// ── 3. Hand-off latency ──────────────────────────────────────────────────────────────────────────
/** Window each latency measurement runs for, ms. */
const WINDOW_MS = quick ? 40 : 150;

/** Per-round-trip samples, reused by every measurement. */
const samples = new Float64Array(2_000_000);

/**
 * Runs `roundTrip` back to back for WINDOW_MS (after a warm-up), timing each one; returns the median
 * round trip (and the 90th percentile) in µs. The median, not the mean: on a shared 2-vCPU machine a thread is now and then
 * descheduled for milliseconds, and a few such stalls would otherwise dominate a mean of 0.3 µs trips.
 */
function timeRoundTrips(roundTrip: () => void): Measure {
  for (let i = 0; i < 200; i++) roundTrip();
  const t0 = performance.now();
  let n = 0;
  let t = t0;
  do {
    roundTrip();
    const t1 = performance.now();
    samples[n++] = t1 - t;
    t = t1;
  } while (t - t0 < WINDOW_MS && n < samples.length);
  const xs = samples.subarray(0, n).sort(); // typed arrays sort numerically
  return { value: xs[n >> 1] * 1000, p90: xs[Math.floor(n * 0.9)] * 1000 };
}

async function rawPingPong(spin: boolean): Promise<Measure> {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const w = await startWorker({ kind: spin ? 'raw-spin' : 'raw-sleep', words: words.buffer });
  let pongs = 0;
  const us = timeRoundTrips(() => {
    Atomics.add(words, 0, 1);
    if (!spin) Atomics.notify(words, 0);
    pongs++;
    if (spin) {
      while (Atomics.load(words, 1) !== pongs) {}
    } else {
      for (let v = Atomics.load(words, 1); v !== pongs; v = Atomics.load(words, 1)) Atomics.wait(words, 1, v);
    }
  });
  Atomics.store(w.ctl, STOP, 1);
  Atomics.add(words, 0, 1);
  Atomics.notify(words, 0);
  await w.exited;
  return us;
}

/** Doorbell ping-pong, both sides with `spin` polls before sleeping (undefined: the adaptive default). */
async function doorbellPingPong(spin: number | undefined): Promise<Measure> {
  const ping = Doorbell.init(new SharedArrayBuffer(Doorbell.byteLength(2)), 0, 2);
  const pong = Doorbell.init(new SharedArrayBuffer(Doorbell.byteLength(2)), 0, 2);
  const w = await startWorker({ kind: 'doorbell', ping: ping.handle, pong: pong.handle, spin });
  const out = new Int32Array(2);
  const us = timeRoundTrips(() => {
    ping.ring(0);
    while (pong.drain(out) === 0) pong.wait(Number.POSITIVE_INFINITY, spin);
  });
  ping.ring(STOP_ID);
  await w.exited;
  return us;
}

async function latency(): Promise<void> {
  const baseline = { name: 'raw Atomics.wait/notify ping-pong (baseline)', run: () => rawPingPong(false) };
  await paired('hand-off round trip, main <-> 1 worker', 'us/round trip', baseline, [
    { name: 'raw spin ping-pong (reference)', run: () => rawPingPong(true) },
    { name: 'Doorbell, busy (spin 100000)', run: () => doorbellPingPong(100_000) },
    { name: 'Doorbell, sleeping (spin 0: Atomics.wait)', run: () => doorbellPingPong(0) },
    { name: 'Doorbell, adaptive spin (default)', run: () => doorbellPingPong(undefined) },
  ]);
  await paired('doorbell spin-before-sleep sweep', 'us/round trip', baseline, [
    ...[100, 1000, DOORBELL_DEFAULT_SPIN, 20_000].map((spin) => ({
      name: `Doorbell, fixed spin ${spin}`,
      run: () => doorbellPingPong(spin),
    })),
    {
      name: `Doorbell, adaptive spin <= ${DOORBELL_DEFAULT_SPIN} (default)`,
      run: () => doorbellPingPong(undefined),
    },
  ]);
}

/**
 * The same hand-off with both threads pinned to one CPU (this process re-run under `taskset -c 0`):
 * where the scheduler often puts a waker and its wakee anyway, and where a spinning waiter holds the
 * CPU its peer needs. Returns the child's rows, or none (with a note) if taskset is not available.
 */
function pinnedLatency(): void {
  const child = spawnSync(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      fileURLToPath(import.meta.url),
      '--pinned-suite',
      ...(quick ? ['--quick'] : []),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (child.error || child.status !== 0) {
    console.log(`(skipped the one-CPU suite: ${child.error?.message ?? child.stderr.trim()})`);
    return;
  }
  rows.push(...(JSON.parse(child.stdout) as Row[]));
}

async function pinnedSuite(): Promise<void> {
  await paired(
    'hand-off round trip, main + worker pinned to one CPU',
    'us/round trip',
    { name: 'raw Atomics.wait/notify ping-pong (baseline)', run: () => rawPingPong(false) },
    [
      { name: 'Doorbell, sleeping (spin 0)', run: () => doorbellPingPong(0) },
      {
        name: `Doorbell, fixed spin ${DOORBELL_DEFAULT_SPIN}`,
        run: () => doorbellPingPong(DOORBELL_DEFAULT_SPIN),
      },
      { name: 'Doorbell, adaptive spin (default)', run: () => doorbellPingPong(undefined) },
    ],
  );
}

// ── report ───────────────────────────────────────────────────────────────────────────────────────
function fmt(v: number, unit: Row['unit']): string {
  if (unit === 'us/round trip') return v < 10 ? v.toFixed(2) : v.toFixed(1);
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)}k`;
  return v.toFixed(0);
}

function report(): void {
  const nameW = Math.max(...rows.map((r) => r.name.length));
  let suite = '';
  for (const r of rows) {
    const latency = r.unit === 'us/round trip';
    if (r.suite !== suite) {
      suite = r.suite;
      const what = latency ? 'p50 µs/round trip' : 'items/s';
      console.log(`\n${suite}  [${what}; vs base = times better than the baseline]`);
      console.log(
        `  ${'case'.padEnd(nameW)}  ${what.padStart(17)}  ${latency ? 'p90'.padStart(8) : ''}  ${'±%'.padStart(6)}  ${'vs base'.padStart(8)}`,
      );
    }
    const p90 =
      latency && r.p90 !== undefined ? fmt(r.p90, r.unit).padStart(8) : ''.padStart(latency ? 8 : 0);
    console.log(
      `  ${r.name.padEnd(nameW)}  ${fmt(r.value, r.unit).padStart(17)}  ${p90}  ${r.rme.toFixed(1).padStart(6)}  ${`${r.speedup!.toFixed(2)}x`.padStart(8)}`,
    );
  }
  console.log(
    '\n±%: benchmark.js margin of error (one thread); half the spread of the per-round ratios (cross-thread)',
  );
}

if (args.includes('--pinned-suite')) {
  // Child mode (see pinnedLatency): measure, hand the rows back on stdout, nothing else.
  await pinnedSuite();
  process.stdout.write(JSON.stringify(rows));
  process.exit(0);
}

const started = performance.now();
console.log(
  `atomics-sync bench: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), main + 1 worker`,
);
sameThread();
await streaming();
await latency();
pinnedLatency();
report();
const seconds = (performance.now() - started) / 1000;
console.log(`\n(${seconds.toFixed(1)} s)`);
if (jsonFile) {
  const doc = {
    bench: 'atomics-sync',
    node: process.version,
    cpus: cpus().length,
    threads: 'main + 1 worker',
    date: new Date().toISOString(),
    seconds,
    rows,
  };
  writeFileSync(jsonFile, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`wrote ${jsonFile}`);
}
