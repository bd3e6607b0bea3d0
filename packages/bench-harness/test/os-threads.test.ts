// threadCpuNs reads a thread's CPU from the scheduler (schedstat, ns) — checked here against real
// worker threads: one that burns CPU, one that sleeps, one that is gone — and against the coarse
// stat ticks it falls back to.
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { currentTid, threadCpuNs, threadCpuNsFromTicks } from '../src/os-threads.js';

/** A worker that reports its tid, then (on `go`) spins or sleeps `ms` of wall time, then waits to be told to exit. */
function startWorker(kind: 'spin' | 'sleep', ms: number) {
  const control = new Int32Array(new SharedArrayBuffer(12)); // [tid, go, done]
  const w = new Worker(
    `const { workerData: d } = require('node:worker_threads');
     const fs = require('node:fs');
     const c = new Int32Array(d.control);
     c[0] = Number(/task\\/(\\d+)$/.exec(fs.readlinkSync('/proc/thread-self'))[1]);
     Atomics.notify(c, 0);
     Atomics.wait(c, 1, 0);
     if (d.kind === 'spin') { const end = Date.now() + d.ms; let x = 0; while (Date.now() < end) x++; }
     else Atomics.wait(c, 1, 1, d.ms);
     Atomics.store(c, 2, 1); Atomics.notify(c, 2);
     Atomics.wait(c, 1, 1);`,
    { eval: true, workerData: { control: control.buffer, kind, ms } },
  );
  return {
    worker: w,
    async tid(): Promise<number> {
      while (Atomics.load(control, 0) === 0) await Atomics.waitAsync(control, 0, 0).value;
      return control[0];
    },
    async run(): Promise<void> {
      Atomics.store(control, 1, 1);
      Atomics.notify(control, 1);
      while (Atomics.load(control, 2) === 0) await Atomics.waitAsync(control, 2, 0).value;
    },
    async exit(): Promise<void> {
      const gone = new Promise((r) => w.once('exit', r));
      Atomics.store(control, 1, 2);
      Atomics.notify(control, 1);
      await gone;
    },
  };
}

test.serial(
  "a spinning thread: schedstat ns agree with the stat ticks, to within the ticks' own error",
  async (t) => {
    const s = startWorker('spin', 300);
    const tid = await s.tid();
    const ns0 = threadCpuNs(tid);
    const tick0 = threadCpuNsFromTicks(tid);
    await s.run();
    const ran = threadCpuNs(tid) - ns0;
    const ticked = threadCpuNsFromTicks(tid) - tick0;
    await s.exit();
    // The thread spun 300 ms of wall time; on a loaded machine it got less CPU than that, never more
    // (plus its own exit path, a few ms at most).
    t.true(ran > 0 && ran < 320e6, `${ran} ns`);
    // Ticks are charged to whoever is running when a tick fires: ±1 tick at each end, and 10 ms each.
    t.true(Math.abs(ran - ticked) <= 30e6, `schedstat ${ran} ns, ticks ${ticked} ns`);
    t.not(ran % 1e7, 0, 'measured in ns, not in 10 ms ticks');
  },
);

test.serial(
  'a sleeping thread uses (almost) no CPU, and a short window is still measured, not 0',
  async (t) => {
    const s = startWorker('sleep', 200);
    const tid = await s.tid();
    const ns0 = threadCpuNs(tid);
    await s.run();
    const slept = threadCpuNs(tid) - ns0;
    await s.exit();
    // Waking, storing and notifying is µs of work; 10 ms of it in a 200 ms sleep would be a wrong reading.
    t.true(slept > 0 && slept < 10e6, `${slept} ns`);
  },
);

test.serial('a thread that is gone reads NaN, both ways; this thread reads its own', async (t) => {
  const s = startWorker('sleep', 1);
  const tid = await s.tid();
  await s.run();
  await s.exit();
  t.true(Number.isNaN(threadCpuNs(tid)));
  t.true(Number.isNaN(threadCpuNsFromTicks(tid)));
  const me = currentTid();
  const a = threadCpuNs(me);
  let x = 0;
  for (let i = 0; i < 1e6; i++) x += i;
  t.true(x > 0 && threadCpuNs(me) > a, 'this thread ran between the two reads');
});
