import test from 'ava';
import type { Dispatcher } from '../src/index.js';
import { quiesce, R, type Records, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 64;

/** The crash tests' dispatcher: N vectors, 2 workers, interrupt mode, the record handler with `data`. */
function setup(t: import('ava').ExecutionContext, data: Record<string, unknown>) {
  return withDispatcher(t, { vectors: N, workers: 2, mode: 'interrupt', data });
}

/**
 * Exact accounting after a crash: what the test raised (`perVector` on every vector) is what the
 * dispatcher counted, all of it consumed, and every raise reached a handler call exactly once.
 */
function exact(
  t: import('ava').ExecutionContext,
  f: { d: Dispatcher; rec: Records; account(perVector: number): void },
  perVector: number,
): void {
  const { d, rec } = f;
  f.account(perVector);
  const s = d.stats();
  t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced + s.totals.pending + s.totals.dropped);
  t.is(s.totals.pending, 0);
  for (let pos = 0; pos < N; pos++) {
    t.is(rec.get(pos, R.SUM), s.vectors[pos].raised, `vector ${pos}: every raise reached a handler call`);
    t.is(rec.get(pos, R.CALLS), s.vectors[pos].delivered, `vector ${pos}: one delivery per call`);
  }
  t.is(rec.sum(R.ORDER_BAD), 0);
  t.is(rec.sum(R.OVERLAP), 0);
}

test.serial(
  'a handler that throws is reported with its vector, counted, and servicing goes on',
  async (t) => {
    const f = await setup(t, { throwVectors: [3, 40], throwEvery: 2 });
    const { d, rec, errors, storm, finish } = f;
    const accepted = await storm(100);
    t.is(accepted, N * 2 * 100);
    await quiesce(d, accepted);
    exact(t, f, 2 * 100);
    t.true(errors.length >= 1);
    for (const e of errors) {
      t.is(e.error.code, 'ERR_VIRQ_HANDLER');
      t.true(e.vector === 3 || e.vector === 40);
      t.is(e.error.vector, e.vector);
      t.is(e.workerId, d.ownerOf(e.vector!));
    }
    const s = d.stats();
    const expected = (pos: number) => Math.floor(rec.get(pos, R.CALLS) / 2);
    t.is(s.vectors[3].handlerErrors, expected(3), 'every throw counted');
    t.is(s.vectors[40].handlerErrors, expected(40));
    t.is(s.totals.handlerErrors, expected(3) + expected(40));
    t.is(
      s.workers.reduce((a, w) => a + w.handlerErrors, 0),
      s.totals.handlerErrors,
    );
    t.true(
      s.workers.every((w) => w.incarnation === 0),
      'a throwing handler does not kill its worker',
    );
    await finish();
  },
);

test.serial('process.exit() in a handler: reported, worker replaced, nothing lost', async (t) => {
  const exitOnce = new SharedArrayBuffer(12);
  // Three crashes on vectors owned by both workers (spread: odd → 1, even → 0), each on the
  // vector's second handler call. A storm coalesces many raises into few calls, so storm in phases
  // (each waits until every raise was consumed): every vector gets at least one call per phase.
  const f = await setup(t, {
    exits: [
      [5, 2],
      [10, 2],
      [33, 2],
    ],
    exitOnce,
  });
  const { d, errors, restarts, storm, finish } = f;
  let accepted = 0;
  for (let phase = 0; phase < 3; phase++) {
    accepted += await storm(50, { raisers: 3 });
    await quiesce(d, accepted);
  }
  t.is(accepted, N * 3 * 50 * 3, 'every raise of the three phases was accepted');
  await waitFor(() => restarts.length === 3, 60_000, 'three replacements');

  t.deepEqual(Array.from(new Int32Array(exitOnce)), [1, 1, 1], 'every planned crash happened');
  exact(t, f, 3 * 50 * 3);
  const crashes = errors.filter((e) => e.error.code === 'ERR_VIRQ_WORKER');
  t.is(crashes.length, 3);
  t.deepEqual(
    crashes.map((e) => e.vector).sort((a, b) => a! - b!),
    [5, 10, 33],
    'each report names the vector',
  );
  for (const e of crashes) t.is(e.workerId, (e.vector! % 2) as number);
  t.deepEqual(restarts.sort(), [0, 1, 1]);
  const s = d.stats();
  // The crashed call's vector was in flight, and so may have been the rest of its batch.
  t.true(s.vectors[5].redelivered >= 1, 'what the dead worker held was delivered again');
  t.true(s.vectors[10].redelivered >= 1);
  t.true(s.vectors[33].redelivered >= 1);
  t.true(s.totals.redelivered >= 3);
  t.is(s.workers[0].restarts, 1);
  t.is(s.workers[1].restarts, 2);
  t.is(s.workers[1].incarnation, 2);
  t.true(
    s.workers.every((w) => w.owned === N / 2),
    'the replacement owns the same vectors',
  );
  // The replacement keeps servicing: a second storm goes through it.
  accepted += await storm(20);
  t.is(accepted, N * (3 * 50 * 3 + 2 * 20));
  await quiesce(d, accepted);
  exact(t, f, 3 * 50 * 3 + 2 * 20);
  await finish();
});

test.serial('deferred work that throws is reported with its vector; the vector keeps working', async (t) => {
  const f = await setup(t, { defer: true, threadThrowVectors: [7] });
  const { d, errors, storm, finish } = f;
  const accepted = await storm(30);
  t.is(accepted, N * 2 * 30);
  await quiesce(d, accepted);
  await d.stop();
  exact(t, f, 2 * 30);
  const s = d.stats();
  t.true(s.vectors[7].deferredErrors >= 1);
  t.is(
    s.vectors[7].deferredErrors,
    s.vectors[7].deferredRuns,
    'every run of vector 7 failed and was counted',
  );
  t.is(s.totals.deferredErrors, s.vectors[7].deferredErrors, 'only vector 7 failed');
  t.is(s.totals.deferredRuns, s.totals.deferredQueued);
  const threadErrors = errors.filter((e) => e.error.code === 'ERR_VIRQ_THREAD');
  t.is(threadErrors.length, s.vectors[7].deferredErrors);
  t.true(threadErrors.every((e) => e.vector === 7));
  await finish();
});
