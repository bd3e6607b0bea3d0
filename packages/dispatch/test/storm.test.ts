import test from 'ava';
import type { DispatchMode } from '../src/index.js';
import { quiesce, R, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 256;
const RAISERS = 3;
const ROUNDS = 200;

for (const mode of ['interrupt', 'poll', 'hybrid'] as DispatchMode[]) {
  test.serial(`${mode}: 256 MSI-X vectors on 4 workers under a storm from ${RAISERS} threads`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 4,
      mode,
      budget: 8,
      // Low thresholds so hybrid really switches vectors under this storm.
      hybrid: { pollAbove: 2_000, interruptBelow: 500, windowMs: 5 },
      data: { defer: true },
    });
    const { d, rec, errors, storm, finish } = f;
    const accepted = await storm(ROUNDS, { raisers: RAISERS, seed: 17 });
    t.is(accepted, N * RAISERS * ROUNDS, 'every raise was routed to a trigger');
    await quiesce(d, accepted);
    const s = d.stats();
    f.account(RAISERS * ROUNDS, 'the storm');
    // Exact accounting: every raise is either one handler call or folded into one.
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced + s.totals.pending + s.totals.dropped);
    t.is(s.totals.dropped, 0);
    t.is(s.totals.delivered, s.totals.handled, 'one delivery per handler call');
    t.is(rec.sum(R.CALLS), s.totals.handled);
    for (let pos = 0; pos < N; pos++) {
      const c = s.vectors[pos];
      t.is(c.raised, RAISERS * ROUNDS);
      if (mode === 'interrupt') {
        t.is(rec.get(pos, R.SUM), c.raised, `vector ${pos}: the counts its handler saw add up to its raises`);
      } else {
        // Raises folded into a held (masked) interrupt are coalesced at raise time: the poll that
        // claims it sees a count of 1.
        t.true(rec.get(pos, R.SUM) <= c.raised && rec.get(pos, R.SUM) >= c.delivered);
      }
      t.is(c.delivered, rec.get(pos, R.CALLS));
    }
    t.is(rec.sum(R.ORDER_BAD), 0, 'per-vector order kept');
    t.is(rec.sum(R.OVERLAP), 0, 'never two handler calls of one vector at once');
    t.is(rec.sum(R.MASKED_CALLS), 0, 'no call while user-masked');
    await d.stop();
    const after = d.stats();
    // Deferred work: every request either queued it or found it queued; each queue ran exactly once.
    t.is(after.totals.deferredQueued + after.totals.deferredCoalesced, after.totals.handled);
    t.is(after.totals.deferredRuns, after.totals.deferredQueued, 'each queued deferred work ran once');
    t.is(rec.sum(R.THREAD_RUNS), after.totals.deferredRuns);
    t.is(rec.sum(R.THREAD_OVERLAP), 0, 'deferred work never ran twice at once for one vector');
    t.is(
      after.vectors.reduce((a, v) => a + v.deferredRuns, 0),
      after.totals.deferredRuns,
    );
    if (mode === 'poll') t.true(rec.sum(R.POLL_CALLS) > 0, 'poll mode polled');
    if (mode === 'hybrid')
      t.true(
        after.vectors.some((v) => v.toPoll > 0),
        'hybrid switched some vectors to poll',
      );
    if (mode === 'interrupt') t.is(rec.sum(R.POLL_CALLS), 0);
    t.deepEqual(errors, []);
    await finish();
  });
}
