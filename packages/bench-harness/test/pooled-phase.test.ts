import test from 'ava';
import fc from 'fast-check';
import { runDispatcherPhase } from '../src/phase-dispatch.js';
import { type PhaseResult, pooledPhase } from '../src/throughput-types.js';

const lat = (p50: number, p99: number) => ({ count: 10, p50, p99, p999: p99, max: p99, distribution: [] });

function window(handled: number, seconds: number, cpuNs: number, p99: number): PhaseResult {
  return {
    name: 'dispatch closed loop, 16 vectors',
    threads: '2 service workers (handlers re-raise) + main idle',
    seconds,
    handled,
    raises: handled + 10,
    coalesced: 10,
    handledPerSec: handled / seconds,
    raisesPerSec: (handled + 10) / seconds,
    coalescedPct: (100 * 10) / (handled + 10),
    latencyUs: lat(1, p99),
    cpuNsPerHandled: cpuNs,
    extra: { polls: 100, workerCpuNsPerHandled: cpuNs - 50, note: 'x' },
    accounting: {
      raised: handled + 10,
      delivered: handled,
      coalesced: 10,
      pending: 0,
      dropped: 0,
      expected: handled + 10,
      balanced: true,
    },
  };
}

test('two windows pooled: CPU per event is total CPU over total events, not the mean of the two', (t) => {
  // 1000 events at 300 ns and 3000 at 500 ns: 1.8 ms of CPU over 4000 events is 450 ns (the mean would be 400).
  const p = pooledPhase(window(1000, 0.5, 300, 2), window(3000, 0.5, 500, 9));
  t.is(p.cpuNsPerHandled, 450);
  t.is(p.handled, 4000);
  t.is(p.seconds, 1);
  t.is(p.handledPerSec, 4000);
  t.is(p.raisesPerSec, 4020);
  t.is(p.coalescedPct, (100 * 20) / 4020);
  t.is(p.extra?.polls, 200, 'counts are summed');
  t.is(p.extra?.workerCpuNsPerHandled, 400, 'per-event extras are weighted by events');
  t.is(p.extra?.note, 'x');
  // the worse tail of the two, never a better one
  t.is(p.latencyUs.p99, 9);
  t.deepEqual(p.accounting, {
    raised: 4020,
    delivered: 4000,
    coalesced: 20,
    pending: 0,
    dropped: 0,
    expected: 4020,
    balanced: true,
  });
});

test('a pooled accounting balances only if both windows did', (t) => {
  const b = window(3000, 0.5, 500, 9);
  b.accounting = { ...b.accounting!, delivered: 2999, balanced: false };
  t.false(pooledPhase(window(1000, 0.5, 300, 2), b).accounting?.balanced);
  t.false(pooledPhase(b, window(1000, 0.5, 300, 2)).accounting?.balanced);
});

test('pooling is the same either way round, and lies between the two windows', (t) => {
  const arb = fc.record({
    handled: fc.integer({ min: 1, max: 1e7 }),
    seconds: fc.double({ min: 0.01, max: 10, noNaN: true }),
    cpu: fc.double({ min: 1, max: 1e5, noNaN: true }),
    p99: fc.double({ min: 0.1, max: 1e4, noNaN: true }),
  });
  fc.assert(
    fc.property(arb, arb, (x, y) => {
      const a = window(x.handled, x.seconds, x.cpu, x.p99);
      const b = window(y.handled, y.seconds, y.cpu, y.p99);
      const ab = pooledPhase(a, b);
      const ba = pooledPhase(b, a);
      const close = (u: number, v: number) => Math.abs(u - v) <= 1e-9 * Math.max(1, Math.abs(u));
      t.true(close(ab.cpuNsPerHandled, ba.cpuNsPerHandled));
      t.true(ab.cpuNsPerHandled >= Math.min(x.cpu, y.cpu) * (1 - 1e-12));
      t.true(ab.cpuNsPerHandled <= Math.max(x.cpu, y.cpu) * (1 + 1e-12));
      t.is(ab.latencyUs.p99, Math.max(x.p99, y.p99));
      t.is(ab.handled, x.handled + y.handled);
    }),
  );
});

test('two real closed-loop windows pool into one whose accounting is exact', async (t) => {
  const run = () =>
    runDispatcherPhase({
      loop: 'closed',
      vectors: 16,
      threads: 2,
      mode: 'hybrid',
      durationMs: 150,
      warmupMs: 50,
    });
  const a = await run();
  const b = await run();
  const p = pooledPhase(a, b);
  t.true(a.accounting!.balanced && b.accounting!.balanced);
  t.true(p.accounting!.balanced);
  t.is(p.accounting!.raised, a.accounting!.raised + b.accounting!.raised);
  t.is(p.handled, a.handled + b.handled);
  const cpuNs = a.cpuNsPerHandled * a.handled + b.cpuNsPerHandled * b.handled;
  t.true(Math.abs(p.cpuNsPerHandled - cpuNs / p.handled) < 1e-6 * p.cpuNsPerHandled);
});
