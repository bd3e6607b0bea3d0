/**
 * Service workers killed from outside (worker.terminate() at random moments during a storm), at
 * exact points of a delivery's bookkeeping (fixtures/kill-point-handler.ts), and in a crash loop.
 */
import type { Worker } from 'node:worker_threads';
import { VFIO_PCI_MSIX_IRQ_INDEX as MSIX } from '@virq/core';
import test from 'ava';
import type { Dispatcher, DispatchMode } from '../src/index.js';
import { CRASH_LOOP } from '../src/worker-slot.js';
import { quiesce, R, range, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 32;

/** The Worker a slot runs now (the dispatcher keeps them private; tests reach in). */
function workerOf(d: Dispatcher, slot: number): Worker | undefined {
  return (d as unknown as { slots: { worker?: Worker }[] }).slots[slot].worker;
}

/** xorshift32: the kill schedule is reproducible from the seed the test logs. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

for (const mode of ['interrupt', 'poll'] as DispatchMode[]) {
  test.serial(
    `${mode}: worker.terminate() from outside, in a random handler call and asleep, under a storm: replaced, nothing lost`,
    async (t) => {
      // Each kill: a random vector and one of its next calls (seeded); that call stalls in its
      // handler before any bookkeeping (the delivery is in INFLIGHT), and the test terminates the
      // worker from outside while raises keep coming. Plus kills of a worker asleep (idle).
      const KILLS = 5;
      const ROUNDS = 100;
      const seed = 0x5eed + (mode === 'poll' ? 1 : 0);
      const rnd = rng(seed);
      t.log(`seed ${seed}`);
      const stall = new SharedArrayBuffer(16);
      const st = new Int32Array(stall);
      const f = await withDispatcher(t, { vectors: N, workers: 2, mode, budget: 4, data: { stall } });
      const { d, rec, errors, restarts } = f;
      // Storms back to back (2 raiser threads, ROUNDS raises of every vector each) until the kills
      // are done, so that every kill lands while raises are coming in.
      let killing = true;
      let storms = 0;
      let accepted = 0;
      const stormLoop = (async () => {
        while (killing) {
          accepted += await f.storm(ROUNDS, { seed: seed + storms });
          storms++;
        }
      })();
      let kills = 0;
      const killed: number[] = [];
      while (kills < KILLS) {
        const pos = Math.floor(rnd() * N);
        Atomics.store(st, 2, 0);
        Atomics.store(st, 1, rec.get(pos, R.CALLS) + 1 + Math.floor(rnd() * 3));
        Atomics.store(st, 0, pos + 1);
        await waitFor(() => Atomics.load(st, 2) === 1, 30_000, `vector ${pos}'s call to stall`);
        const slot = d.ownerOf(pos);
        await workerOf(d, slot)!.terminate();
        kills++;
        killed.push(pos);
        await waitFor(() => restarts.length === kills, 30_000, `replacement ${kills}`);
      }
      killing = false;
      await stormLoop;
      t.log(`${kills} kills during ${storms} storms, on vectors ${killed.join(' ')}`);
      t.is(accepted, storms * N * 2 * ROUNDS, 'every raise of the storms was accepted');
      await quiesce(d, accepted);
      f.account(storms * 2 * ROUNDS, 'the storms');
      // Asleep: an idle worker (waiting on its doorbell) killed from outside.
      await waitFor(() => d.stats().workers.every((w) => w.state === 'sleeping'), 30_000, 'workers asleep');
      const sleeper = rnd() < 0.5 ? 0 : 1;
      await workerOf(d, sleeper)!.terminate();
      await waitFor(() => restarts.length === KILLS + 1, 30_000, 'the sleeper replaced');
      const s = d.stats();
      t.is(
        s.workers.reduce((a, w) => a + w.restarts, 0),
        KILLS + 1,
        'one replacement per kill',
      );
      const crashes = errors.filter((e) => e.error.code === 'ERR_VIRQ_WORKER');
      t.is(crashes.length, KILLS + 1, 'each kill reported');
      t.deepEqual(
        crashes.slice(0, KILLS).map((e) => e.vector),
        killed,
        'each report names the vector whose handler was running',
      );
      t.is(crashes[KILLS].vector, undefined, 'an idle worker was running no handler');
      t.deepEqual(
        errors.filter((e) => e.error.code !== 'ERR_VIRQ_WORKER'),
        [],
      );
      for (const pos of new Set(killed))
        t.true(s.vectors[pos].redelivered >= 1, `vector ${pos} delivered again`);
      // The stalled calls did no bookkeeping: every raise reached exactly one handler call.
      for (let v = 0; v < N; v++) {
        t.is(rec.get(v, R.CALLS), s.vectors[v].delivered, `vector ${v}: one call per delivery`);
        if (mode === 'interrupt')
          t.is(rec.get(v, R.SUM), s.vectors[v].raised, `vector ${v}: every raise once`);
      }
      t.is(rec.sum(R.ORDER_BAD), 0, 'order kept across replacements');
      t.is(rec.sum(R.OVERLAP), 0, 'a replacement never ran a vector beside its predecessor');
      // The replacements keep servicing.
      const more = await f.storm(10, { raisers: 1, seed: seed + 7 });
      t.is(more, N * 10);
      await quiesce(d, accepted + more);
      f.account(storms * 2 * ROUNDS + 10, 'all storms');
      await f.finish();
    },
  );
}

test.serial(
  'a worker killed right after its handler took its first delivery (before any bookkeeping): delivered again, exactly once',
  async (t) => {
    // The record handler's `exits`: process.exit inside the handler, after the loop moved the
    // trigger counts to INFLIGHT and before it recorded the delivery; the handler takes back its
    // own bookkeeping, so the records must show every raise exactly once.
    const exitOnce = new SharedArrayBuffer(4);
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode: 'poll',
      data: { exits: [[6, 1]], exitOnce },
    });
    const accepted = await f.storm(50, { raisers: 2, seed: 4 });
    t.is(accepted, N * 100);
    await waitFor(() => f.restarts.length === 1, 30_000, 'the replacement');
    await quiesce(f.d, accepted);
    t.deepEqual(Array.from(new Int32Array(exitOnce)), [1]);
    f.account(100, 'the storm');
    t.true(f.d.stats().vectors[6].redelivered >= 1);
    for (let v = 0; v < N; v++) t.is(f.rec.get(v, R.CALLS), f.d.stats().vectors[v].delivered);
    await f.finish();
  },
);

// The two windows of the service loop where a death is not reconciled (issue 15's closing note): a
// count read from the trigger and not yet in INFLIGHT, a delivery recorded and not yet off INFLIGHT.
// A terminate() from outside no longer lands in them — every terminate the dispatcher makes waits
// for a handler or the loop head (WorkerSlot.terminate; terminate.test.ts kills at random moments) —
// and user code (the only other way to die: process.exit, a throw) never runs inside them. What is
// left is a death in the dispatcher's own code at those points, which these fixtures force with
// process.exit: test.failing documents that it is still not recoverable (it would need a journal
// per delivery on the hot path).
for (const killAt of ['collected', 'consumed'] as const) {
  const where =
    killAt === 'collected'
      ? 'after reading its trigger, before moving the counts to INFLIGHT (the counts are lost: pending forever)'
      : 'after recording the delivery, before taking it off INFLIGHT (delivered twice, raised over-counted)';
  test.serial.failing(`KNOWN LIMIT: a worker dying in the loop's own code ${where}`, async (t) => {
    const killOnce = new SharedArrayBuffer(4);
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode: 'interrupt',
      module: new URL('./fixtures/kill-point-handler.js', import.meta.url),
      data: { killAt, killPos: 5, killNth: 3, killOnce },
    });
    let accepted = 0;
    for (let phase = 0; phase < 4; phase++) {
      accepted += await f.storm(10, { raisers: 1, seed: phase + 1 });
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(() => f.restarts.length === 1, 30_000, 'the replacement');
    t.is(Atomics.load(new Int32Array(killOnce), 0), 1, 'the kill happened');
    t.is(accepted, N * 40);
    await quiesce(f.d, accepted, 5_000).catch(() => {});
    f.account(40, 'the storm');
    t.is(f.rec.get(5, R.CALLS), f.d.stats().vectors[5].delivered);
    await f.finish();
  });
}

test.serial(
  `crash-loop cap: a slot whose every incarnation dies without progress is given up after ${CRASH_LOOP}`,
  async (t) => {
    // Vector 1 (owned by worker 1: spread) kills every worker that handles it, before any handler call
    // completes: each replacement gets it again (INFLIGHT) and dies at once.
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode: 'interrupt',
      data: { exitAlways: [1] },
    });
    const { d, dev, errors, restarts } = f;
    t.is(d.ownerOf(1), 1);
    dev.raise(MSIX, 1);
    await waitFor(
      () => errors.some((e) => /crashed \d+ times in a row/.test(e.error.message)),
      60_000,
      'the crash-loop report',
    );
    // Nothing more happens to that slot: no replacement after the cap.
    await new Promise((r) => setTimeout(r, 300));
    const crashes = errors.filter((e) => e.error.code === 'ERR_VIRQ_WORKER' && e.vector === 1);
    t.is(crashes.length, CRASH_LOOP, 'one report per crash, each naming vector 1');
    t.true(crashes.every((e) => e.workerId === 1));
    const cap = errors.filter((e) => /crashed \d+ times in a row/.test(e.error.message));
    t.is(cap.length, 1);
    t.is(cap[0].workerId, 1);
    t.is(cap[0].error.code, 'ERR_VIRQ_WORKER');
    t.is(errors.length, CRASH_LOOP + 1);
    t.deepEqual(restarts, new Array(CRASH_LOOP - 1).fill(1), 'replaced CRASH_LOOP - 1 times, then not');
    t.is(workerOf(d, 1), undefined, 'the slot has no worker');
    const s = d.stats();
    t.is(s.workers[1].restarts, CRASH_LOOP - 1);
    t.is(s.workers[0].restarts, 0);
    // The poisoned raise stays accounted as pending; the other worker's vectors are still serviced.
    t.like(s.vectors[1], { raised: 1, delivered: 0, pending: 1 });
    const even = range(N).filter((v) => v % 2 === 0);
    for (const v of even) dev.raise(MSIX, v);
    await waitFor(
      () => even.every((v) => d.stats().vectors[v].delivered === 1),
      30_000,
      'worker 0 to service its vectors',
    );
    t.is(d.stats().totals.raised, 1 + even.length);
    await f.finish();
  },
);

test.serial('crashes with progress in between never reach the crash-loop cap', async (t) => {
  // Worker 0 dies CRASH_LOOP + 1 times, each on a different vector's second call; every replacement
  // delivers the dead one's vector again (a completed handler call) before the next crash.
  const planned = range(CRASH_LOOP + 1).map((i) => [2 * i, 2] as [number, number]);
  const exitOnce = new SharedArrayBuffer(4 * planned.length);
  const f = await withDispatcher(t, {
    vectors: N,
    workers: 2,
    mode: 'interrupt',
    data: { exits: planned, exitOnce },
  });
  const { d, errors, restarts } = f;
  let accepted = 0;
  for (let phase = 0; phase < 3; phase++) {
    accepted += await f.storm(20, { raisers: 1, seed: 40 + phase });
    await quiesce(d, accepted);
  }
  await waitFor(() => restarts.length === planned.length, 60_000, 'every planned crash replaced');
  t.deepEqual(Array.from(new Int32Array(exitOnce)), new Array(planned.length).fill(1));
  t.is(d.stats().workers[0].restarts, CRASH_LOOP + 1, 'replaced every time');
  t.false(
    errors.some((e) => /in a row/.test(e.error.message)),
    'no crash-loop report',
  );
  t.is(accepted, N * 20 * 3);
  f.account(60, 'the storms');
  await f.finish();
});
