import test from 'ava';
import type { AffinitySpec, DispatchMode } from '../src/index.js';
import { quiesce, R, range, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 64;
const WORKERS = 4;
const RAISERS = 2;
const ROUNDS = 400;

for (const mode of ['interrupt', 'poll'] as DispatchMode[]) {
  test.serial(`${mode}: vectors move between workers under a storm; order and counts survive`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: WORKERS,
      mode,
      budget: 4,
      data: { defer: true },
    });
    const { d, rec, errors } = f;
    const storm = f.storm(ROUNDS, { raisers: RAISERS, seed: 21 });
    const plans: AffinitySpec[] = [
      'block',
      (v) => (v * 7) % WORKERS,
      new Map(range(N).map((v) => [v, v < 8 ? 3 : 0])),
      Object.fromEntries(range(N).map((v) => [v, (v >> 2) % WORKERS])),
      'spread',
    ];
    let stormDone = false;
    storm.then(
      () => {
        stormDone = true;
      },
      () => {},
    );
    let moves = 0;
    for (let i = 0; i < plans.length || !stormDone; i++) {
      const plan = plans[i % plans.length];
      await d.rebalance(plan);
      moves++;
      const want = (await import('../src/index.js')).resolveAffinity(plan, range(N), WORKERS);
      t.deepEqual(
        range(N).map((v) => d.ownerOf(v)),
        Array.from(want),
        'ownership is the new map once rebalance resolves',
      );
      const owned = d.stats().workers.map((w) => w.owned);
      t.deepEqual(
        owned,
        range(WORKERS).map((w) => want.filter((x) => x === w).length),
      );
    }
    const accepted = await storm;
    t.log(`${moves} rebalances`);
    // Every raise the storm made was accepted (NAPI masks vectors in poll mode: a raise on one is held).
    t.is(accepted, N * RAISERS * ROUNDS, 'every raise of the storm was accepted');
    await quiesce(d, N * RAISERS * ROUNDS);
    const s = d.stats();
    f.account(RAISERS * ROUNDS, 'the storm');
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
    for (let v = 0; v < N; v++) {
      t.is(rec.get(v, R.CALLS), s.vectors[v].delivered);
      if (mode === 'interrupt')
        t.is(rec.get(v, R.SUM), s.vectors[v].raised, `vector ${v}: nothing lost in a move`);
    }
    t.is(rec.sum(R.ORDER_BAD), 0, 'per-vector order kept across moves');
    t.is(rec.sum(R.OVERLAP), 0, 'a vector never ran on two workers at once');
    t.deepEqual(errors, []);
    await d.stop();
    t.is(rec.sum(R.THREAD_OVERLAP), 0);
    t.is(d.stats().totals.deferredRuns, d.stats().totals.deferredQueued);
    await f.finish();
  });
}
