/**
 * Baseline 1: one piscina task per event. Closed loop: every vector has one event in flight, and
 * the completion of its task re-raises it (submits the next task), the same shape as the
 * dispatcher's closed loop.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { LatencyBuckets, makeClock, summarize } from './throughput-latency.js';
import { baselineResult, type PhaseResult } from './throughput-types.js';

/** Runs the piscina baseline for `durationMs` with `threads` pool threads and `vectors` in flight. */
export async function runPiscinaBaseline(opts: {
  vectors: number;
  threads: number;
  durationMs: number;
  warmupMs: number;
}): Promise<PhaseResult> {
  const pool = new Piscina<number, number>({
    filename: fileURLToPath(new URL('./throughput-piscina-task.js', import.meta.url)),
    minThreads: opts.threads,
    maxThreads: opts.threads,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  const lat = LatencyBuckets.create(1);
  const clock = makeClock(performance.timeOrigin);
  let measuring = false;
  let running = true;
  let handled = 0;
  const loop = async (v: number): Promise<void> => {
    while (running) {
      const t0 = clock();
      await pool.run(v);
      if (measuring) {
        handled++;
        lat.record(0, clock() - t0);
      }
    }
  };
  const loops: Promise<void>[] = [];
  for (let v = 0; v < opts.vectors; v++) loops.push(loop(v));
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, opts.durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  running = false;
  await Promise.all(loops);
  await pool.destroy();
  return baselineResult({
    name: 'baseline: piscina task per event',
    threads: `${opts.threads} piscina threads + main`,
    seconds,
    handled,
    latencyUs: summarize(lat.totals()),
    cpu,
  });
}
