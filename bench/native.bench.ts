// @virq/native overhead, as ratios to the same kernel work done by a C program in the same run.
//
// 1. eventfd write(1) + read(), per pair: EventFd.write/read (two JS→C++ crossings) vs write(2)+read(2).
// 2. batched epoll drain, per event: Epoll.drain over N ready eventfds (one crossing per batch) vs
//    epoll_wait + read(2) of each. Only the drain is timed, in both; the writes that make the eventfds
//    ready are not.
//
// Harness: a hand-rolled calibrated loop rather than benchmark.js, because the C side must run the very
// same loop shape: every sample times a fixed number of operations with a monotonic clock, each side
// takes 7 samples after a warm-up, and the median is reported. Single thread on both sides (main thread
// only; no worker), so there are no cross-core wakes in either figure.
//
// Usage: node dist/native.bench.js [--quick]   (needs gcc and the built addon)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Epoll, EventFd } from '@virq/native';

const quick = process.argv.includes('--quick');
const SAMPLES = quick ? 3 : 7;
const PAIRS = quick ? 50_000 : 300_000;
const BATCH = 256;
const ROUNDS = quick ? 200 : 2_000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function compileBaseline(dir: string): string {
  const src = fileURLToPath(new URL('../c/native-baseline.c', import.meta.url));
  const bin = join(dir, 'native-baseline');
  execFileSync('gcc', ['-O2', '-Wall', '-o', bin, src]);
  return bin;
}

function runC(bin: string, args: string[]): number {
  const out = JSON.parse(execFileSync(bin, args, { encoding: 'utf8' })) as { ns: number[] };
  return median(out.ns);
}

function jsEventfd(): number {
  const ev = EventFd.create({ nonblock: true });
  const sample = (n: number): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      ev.write(1);
      ev.read();
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  sample(PAIRS / 10);
  const ns = Array.from({ length: SAMPLES }, () => sample(PAIRS));
  ev.close();
  return median(ns);
}

function jsDrain(): number {
  const ep = new Epoll();
  const fds = Array.from({ length: BATCH }, () => EventFd.create({ nonblock: true }));
  fds.forEach((ev, i) => {
    ep.add(ev.fd, i);
  });
  const tags = new Int32Array(BATCH);
  const counts = new BigUint64Array(BATCH);
  const sample = (rounds: number): number => {
    let timed = 0n;
    let drained = 0;
    for (let r = 0; r < rounds; r++) {
      for (const ev of fds) ev.write(1);
      const t0 = process.hrtime.bigint();
      const n = ep.drain(tags, counts, 0);
      timed += process.hrtime.bigint() - t0;
      drained += n;
    }
    if (drained !== rounds * BATCH) throw new Error(`drained ${drained} of ${rounds * BATCH} events`);
    return Number(timed) / drained;
  };
  sample(ROUNDS / 10);
  const ns = Array.from({ length: SAMPLES }, () => sample(ROUNDS));
  for (const ev of fds) ev.close();
  ep.close();
  return median(ns);
}

const dir = mkdtempSync(join(tmpdir(), 'virq-native-bench-'));
try {
  const bin = compileBaseline(dir);
  const rows = [
    {
      op: 'eventfd write+read (per pair)',
      addon: jsEventfd(),
      c: runC(bin, ['eventfd', String(PAIRS), String(SAMPLES)]),
    },
    {
      op: `epoll drain of ${BATCH} eventfds (per event)`,
      addon: jsDrain(),
      c: runC(bin, ['drain', String(BATCH), String(ROUNDS), String(SAMPLES)]),
    },
  ];
  console.log(
    `@virq/native vs C (gcc -O2), main thread only, median of ${SAMPLES} samples, node ${process.version}`,
  );
  console.log(
    `${'operation'.padEnd(40)} ${'addon ns'.padStart(10)} ${'C ns'.padStart(10)} ${'ratio'.padStart(8)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(40)} ${r.addon.toFixed(1).padStart(10)} ${r.c.toFixed(1).padStart(10)} ${(r.addon / r.c).toFixed(2).padStart(7)}x`,
    );
  }
  console.log(JSON.stringify({ bench: 'native', samples: SAMPLES, rows }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
