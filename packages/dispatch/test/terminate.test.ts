/**
 * Workers terminated from outside at many random moments under a storm (the soak's `terminate`
 * fault, Dispatcher.terminateWorker): every raise the test made is accounted, exactly — none lost
 * (left pending forever) and none counted twice (a delivery recorded, then delivered again, makes
 * core count the extra consumption as a raise it never saw: raised one over what was raised).
 */
import { VFIO_PCI_MSIX_IRQ_INDEX as MSIX } from '@virq/core';
import test from 'ava';
import type { DispatchMode } from '../src/index.js';
import { quiesce, range, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 16;

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const mode of ['interrupt', 'poll'] as DispatchMode[]) {
  test.serial(
    `${mode}: terminateWorker() at 30 random moments under a storm: every raise accounted, none lost or doubled`,
    async (t) => {
      const KILLS = 30;
      const seed = Number(process.env.VIRQ_TEST_SEED ?? 0x7e57) + (mode === 'poll' ? 1 : 0);
      const rnd = rng(seed);
      t.log(`seed ${seed}`);
      const f = await withDispatcher(t, { vectors: N, workers: 2, mode, budget: 4 });
      const { d, errors, restarts } = f;
      let killing = true;
      let storms = 0;
      let accepted = 0;
      const ROUNDS = 200;
      const stormLoop = (async () => {
        while (killing) {
          accepted += await f.storm(ROUNDS, { seed: seed + storms });
          storms++;
        }
      })();
      for (let k = 0; k < KILLS; k++) {
        const slot = rnd() < 0.5 ? 0 : 1;
        // A random moment: 0..2 ms into the storm, then wherever the worker is right then.
        await sleep(Math.floor(rnd() * 3));
        const events = d.stats().workers[slot].events;
        await d.terminateWorker(slot);
        await waitFor(() => restarts.length === k + 1, 30_000, `replacement ${k + 1}`);
        // The replacement completes a handler call before the next kill (no crash-loop cap).
        await waitFor(() => d.stats().workers[slot].events > events, 30_000, `worker ${slot} to progress`);
      }
      killing = false;
      await stormLoop;
      t.log(`${KILLS} terminates during ${storms} storms`);
      t.is(accepted, storms * N * 2 * ROUNDS, 'every raise of the storms was accepted');
      await quiesce(d, accepted, 10_000).catch((e: Error) => t.log(e.message));
      const s = d.stats().totals;
      t.log(
        `accepted ${accepted}, raised ${s.raised}, delivered ${s.delivered}, coalesced ${s.coalesced}, ` +
          `pending ${s.pending}, redelivered ${s.redelivered}`,
      );
      f.account(storms * 2 * ROUNDS, 'the storms');
      t.is(
        errors.filter((e) => e.error.code === 'ERR_VIRQ_WORKER').length,
        KILLS,
        'each terminate reported as a worker crash',
      );
      t.deepEqual(
        errors.filter((e) => e.error.code !== 'ERR_VIRQ_WORKER').map((e) => e.error.message),
        [],
      );
      // The replacements keep servicing every vector.
      for (const v of range(N)) f.dev.raise(MSIX, v);
      await quiesce(d, accepted + N);
      f.account(storms * 2 * ROUNDS + 1, 'the storms and one more raise each');
      await f.finish();
    },
  );
}

test.serial(
  'a terminate that finds the worker still starting waits until it is ready: no fd of its modules is left open',
  async (t) => {
    // terminate() while a worker's ES modules load leaks the fds of the files being read (Node 20), so
    // terminateWorker() waits for the replacement it finds starting. Back to back, each terminate after
    // the first lands on the replacement the last one made, spawned a moment before.
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      module: new URL('./fixtures/slow-load-handler.js', import.meta.url),
    });
    const { d, errors, restarts } = f;
    const KILLS = 4; // below the crash-loop cap (5 replacements in a row without progress end the slot)
    for (let k = 0; k < KILLS; k++) {
      await d.terminateWorker(0);
      await waitFor(() => d.stats().workers[0].incarnation > k, 10_000, `replacement ${k + 1} spawned`);
    }
    await waitFor(() => restarts.length === KILLS, 60_000, `${KILLS} replacements`);
    t.is(restarts.length, KILLS, 'each terminate replaced the worker once: none was swallowed');
    t.is(errors.filter((e) => e.error.code === 'ERR_VIRQ_WORKER').length, KILLS);
    for (const v of range(N)) f.dev.raise(MSIX, v);
    await quiesce(d, N);
    f.account(1, 'one raise each, serviced by the last replacement');
    await f.finish(); // the fd check: no module file of a worker terminated mid-load
  },
);
