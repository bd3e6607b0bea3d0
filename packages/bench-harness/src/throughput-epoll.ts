/**
 * Baseline 2: one kernel eventfd write and one epoll wake per event. The main thread writes vector
 * v's eventfd and blocks reading an ack eventfd; a worker blocked in epoll_wait wakes, reads the
 * counter, and writes the ack. Two kernel wake-ups per event: the cost a design that wakes a thread
 * per interrupt pays.
 */
import { Worker } from 'node:worker_threads';
import { EventFd } from '@virq/native';
import { LatencyBuckets, makeClock, summarize } from './throughput-latency.js';
import { baselineResult, type PhaseResult } from './throughput-types.js';

/** Runs the epoll ping-pong for about `durationMs` (after `warmupMs`). */
export async function runEpollBaseline(opts: {
  vectors: number;
  durationMs: number;
  warmupMs: number;
}): Promise<PhaseResult> {
  const efds = Array.from({ length: opts.vectors }, () => EventFd.create({ nonblock: true }));
  const ack = EventFd.create(); // blocking: the main thread sleeps in read()
  const wake = EventFd.create({ nonblock: true });
  const stamps = new Float64Array(new SharedArrayBuffer(opts.vectors * 8));
  const lat = LatencyBuckets.create(1);
  const control = new Int32Array(new SharedArrayBuffer(16));
  const epochMs = performance.timeOrigin;
  const clock = makeClock(epochMs);
  const worker = new Worker(new URL('./throughput-epoll-worker.js', import.meta.url), {
    workerData: {
      fds: efds.map((e) => e.fd),
      ackFd: ack.fd,
      wakeFd: wake.fd,
      stamps: stamps.buffer,
      latency: lat.buffer,
      epochMs,
      control: control.buffer,
    },
  });
  const exited = new Promise((r) => worker.once('exit', r));
  await new Promise((r) => worker.once('online', r));
  // Synchronous ping-pong: the event loop is blocked while it runs, which is the point (the
  // producer pays the round trip); time-boxed by the clock.
  const pingPong = (ms: number): number => {
    const end = performance.now() + ms;
    let n = 0;
    let v = 0;
    while (performance.now() < end) {
      stamps[v] = clock();
      efds[v].write(1n);
      ack.read();
      n++;
      v = v + 1 === opts.vectors ? 0 : v + 1;
    }
    return n;
  };
  pingPong(opts.warmupMs);
  Atomics.store(control, 2, 1);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const handled = pingPong(opts.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  Atomics.store(control, 2, 0);
  Atomics.store(control, 1, 1);
  wake.write(1n);
  await exited;
  for (const e of efds) e.close();
  ack.close();
  wake.close();
  return baselineResult({
    name: 'baseline: eventfd + epoll wake per event',
    threads: '1 epoll worker + main writing',
    seconds,
    handled,
    latencyUs: summarize(lat.totals()),
    cpu,
  });
}
