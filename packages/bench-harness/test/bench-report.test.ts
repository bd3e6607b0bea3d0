import test from 'ava';
import fc from 'fast-check';
import { accountingLine, figuresOf, formatRunsReport, meets, summarizeRuns } from '../src/report.js';
import { median } from '../src/stats-math.js';
import { openLoopWorkers, type ThroughputResult } from '../src/throughput.js';

// The CLI's renderer in miniature: cells joined by two spaces, rows by newlines.
const table = (h: readonly string[], rows: readonly (readonly string[])[]) =>
  [h, ...rows].map((r) => r.join('  ')).join('\n');

test('median: the middle value, or the mean of the middle two; NaN for none', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(median([7]), 7);
  t.true(Number.isNaN(median([])));
  fc.assert(
    fc.property(
      fc.array(fc.double({ noNaN: true, min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 50 }),
      (xs) => {
        const m = median(xs);
        // At least half the values are <= m and at least half are >= m.
        t.true(xs.filter((x) => x <= m).length * 2 >= xs.length);
        t.true(xs.filter((x) => x >= m).length * 2 >= xs.length);
        t.deepEqual(median([...xs].reverse()), m, 'order does not matter');
      },
    ),
  );
});

test('meets: >= and <= targets, and no verdict without a target or for NaN', (t) => {
  t.true(meets(100, { op: '>=', value: 100 }));
  t.false(meets(99.9, { op: '>=', value: 100 }));
  t.true(meets(1.2, { op: '<=', value: 1.2 }));
  t.false(meets(1.21, { op: '<=', value: 1.2 }));
  t.is(meets(5, undefined), undefined);
  t.is(meets(Number.NaN, { op: '<=', value: 1 }), undefined);
});

// A result with just what figuresOf reads; `k` scales every figure so runs differ.
function fakeRun(k: number, loadStart = 0.5): ThroughputResult {
  // Each dispatcher phase's accounting balances: 1000 raised = 600 delivered + 390 coalesced + 10 pending.
  const accounting = {
    raised: 1000,
    delivered: 600,
    coalesced: 390,
    pending: 10,
    dropped: 0,
    expected: 1000,
    balanced: true,
  };
  const phase = (cpu: number, raises = 0) => ({
    cpuNsPerHandled: cpu,
    raisesPerSec: raises,
    accounting: { ...accounting },
  });
  const lat = (p50: number, p99: number) => ({ p50, p99 });
  return {
    machine: { node: 'v20', cpus: 2, cpuModel: 'Test CPU' },
    load: { start: [loadStart, 0.4, 0.3], end: [loadStart + 0.1, 0.4, 0.3] },
    options: { durationMs: 5000, vectors: 256, threads: 2, mode: 'hybrid' },
    phases: {
      closed: phase(300 * k),
      open: { ...phase(0, 12e6 * k), extra: { raiserCpuNsPerRaise: 50 * k, raiserCpuShare: 0.6 } },
    },
    latency: {
      busy: { count: 1, ...lat(0.8 * k, 4 * k) },
      busyPreemptionsPerSec: 100 * k,
      accounting: { ...accounting },
    },
    ratios: {
      closedVsPiscina: 90 * k,
      closedVsEpoll: 20 * k,
      openAbsorbedVsPiscina: 250 * k,
      openHandledVsPiscina: 1,
      cpuPiscinaOverClosed: 80 * k,
      cpu2048Over16: 1.1 * k,
      busyP50VsSpin: 3 * k,
      sleepingP50VsWake: 1.1 * k,
      sleepingP99VsWake: 1.5 * k,
      eventfdVsC: k === 2 ? Number.NaN : 1.4 * k,
    },
  } as unknown as ThroughputResult;
}

test('summarizeRuns: per figure the runs values, their median and min-max, NaN runs left out', (t) => {
  const runs = [fakeRun(1), fakeRun(1.2), fakeRun(0.9), fakeRun(2)];
  const s = summarizeRuns(runs);
  t.is(s.length, figuresOf(runs[0]).length);
  const closed = s.find((x) => x.key === 'closedVsPiscina')!;
  t.deepEqual(closed.values, [90, 108, 81, 180]);
  t.is(closed.median, (90 + 108) / 2);
  t.is(closed.min, 81);
  t.is(closed.max, 180);
  t.false(closed.met, 'median 99 < 100');
  const open = s.find((x) => x.key === 'openAbsorbed')!;
  t.true(Math.abs(open.median - (12 + 14.4) / 2) < 1e-9);
  t.true(open.met);
  const ev = s.find((x) => x.key === 'eventfdVsC')!;
  t.true(Number.isNaN(ev.values[3]));
  t.is(ev.median, 1.4);
  t.is(ev.max, 1.4 * 1.2);
  t.deepEqual(summarizeRuns([]), []);
});

test('a run read back from JSON (NaN and Infinity written as null) gives NaN figures, left out of the median', (t) => {
  const back = JSON.parse(JSON.stringify(fakeRun(2))) as ThroughputResult;
  back.ratios.closedVsPiscina = JSON.parse(JSON.stringify({ x: Number.POSITIVE_INFINITY })).x;
  t.is(back.ratios.eventfdVsC, null as unknown as number);
  const figs = figuresOf(back);
  t.true(Number.isNaN(figs.find((f) => f.key === 'eventfdVsC')!.value));
  t.true(Number.isNaN(figs.find((f) => f.key === 'closedVsPiscina')!.value));
  const s = summarizeRuns([fakeRun(1), back]);
  t.is(s.find((x) => x.key === 'closedVsPiscina')!.median, 90);
  t.is(s.find((x) => x.key === 'closedVsPiscina')!.measured, 1);
  const text = formatRunsReport([fakeRun(1), back], {
    command: 'c',
    loadStart: [0, 0, 0],
    loadEnd: [0, 0, 0],
    table,
  });
  t.regex(
    text,
    /closed loop ÷ piscina task per event, handled\/s {2}90\.0× \(1 of 2 runs\) {2}90\.0× – 90\.0×/,
  );
});

test('formatRunsReport names the machine, the load, each median and spread, and the targets not met', (t) => {
  const runs = [fakeRun(1, 0.25), fakeRun(1.2, 0.5), fakeRun(0.9, 0.75)];
  const cap = (delivered: number) => ({ aloneMs: [3, 3], togetherMs: [3, 3 / (delivered - 1)], delivered });
  runs[0].cpuCapacity = { start: cap(2), end: cap(1.4) };
  runs[1].cpuCapacity = { start: cap(1.95) }; // its end not measured
  const text = formatRunsReport(runs, {
    command: 'virq bench --runs 3',
    loadStart: [0.2, 0.3, 0.4],
    loadEnd: [1, 2, 3],
    table,
  });
  t.regex(text, /^virq bench: 3 runs, each a fresh process \(virq bench --runs 3\)/);
  t.regex(text, /machine: Test CPU, 2 CPUs, Node v20/);
  t.regex(
    text,
    /load average \(1\/5\/15 min\): 0\.20 \/ 0\.30 \/ 0\.40 at the start, 1\.00 \/ 2\.00 \/ 3\.00 at the end/,
  );
  t.regex(text, /0\.25→0\.35, 0\.50→0\.60, 0\.75→0\.85/);
  // what the CPUs delivered per run, so an outlier can be matched to the machine; '?' where not measured
  t.regex(text, /CPUs' worth the 2 CPUs delivered all busy.*: 2\.00→1\.40, 1\.95→\?, \?→\?$/m);
  t.regex(
    text,
    /closed loop ÷ piscina task per event, handled\/s\s+90\.0×\s+81\.0× – 108×\s+≥ 100×\s+NOT met/,
  );
  t.regex(text, /CPU per event, 2048 vectors ÷ 16 vectors\s+1\.10×\s+0\.99× – 1\.32×\s+≤ 1\.30×\s+met/);
  t.regex(text, /targets not met \(medians\): closedVsPiscina, closedCpuNs/);
  // every run's own value, in run order, after the verdict: an outlier can be named
  t.regex(text, /closed loop ÷ piscina task per event, handled\/s.*NOT met\s+90\.0× {2}108× {2}81\.0×$/m);
  t.regex(
    text,
    /open loop: raiser thread CPU per raise\s+50\.0 ns\s+45\.0 ns – 60\.0 ns.*50\.0 ns {2}60\.0 ns {2}45\.0 ns$/m,
  );
  t.regex(text, /open loop: raiser thread CPU time ÷ wall time\s+0\.60×/);
  t.regex(text, /latency, busy: preemptions of the two pinned threads\s+100\/s\s+90\.0\/s – 120\/s/);
});

test('the report says the accounting is exact only when every dispatcher phase of every run balanced', (t) => {
  const runs = [fakeRun(1), fakeRun(1.1), fakeRun(0.9)];
  const opts = { command: 'c', loadStart: [0, 0, 0], loadEnd: [0, 0, 0], table };
  // 3 runs × (closed, open, latency): 9 phases of 1000 raises each
  t.deepEqual(accountingLine(runs), {
    exact: true,
    line:
      'accounting exact: in all 9 dispatcher phases of the 3 runs, raised = delivered + coalesced + pending + ' +
      "dropped = the raises the bench's threads counted (9000 raises)",
  });
  t.regex(formatRunsReport(runs, opts), /^accounting exact: in all 9 dispatcher phases/m);

  // One raise lost in run 2's open loop: named, and the series does not meet its targets.
  const lost = runs[1].phases.open.accounting!;
  lost.delivered -= 1;
  lost.balanced = false;
  const a = accountingLine(runs);
  t.false(a.exact);
  t.is(
    a.line,
    "accounting NOT exact: run 2 open: raised 1000 (the bench's threads counted 1000) vs delivered 599 + " +
      'coalesced 390 + pending 10 + dropped 0',
  );
  const text = formatRunsReport(runs, opts);
  t.regex(text, /^accounting NOT exact: run 2 open/m);
  t.regex(text, /^targets not met \(medians\): .*accounting$/m);
  t.notRegex(text, /every target met/);

  // A series that recorded none (runs of an older version) is not called exact.
  for (const r of runs) {
    for (const p of Object.values(r.phases)) delete p.accounting;
    delete (r.latency as { accounting?: unknown }).accounting;
  }
  t.deepEqual(accountingLine(runs), { exact: false, line: 'accounting: none recorded by these runs' });
});

test('the open loop figures of a run without the raiser extras are not measurements (NaN)', (t) => {
  const run = fakeRun(1);
  delete (run.phases.open as { extra?: unknown }).extra;
  const figs = figuresOf(run);
  t.true(Number.isNaN(figs.find((f) => f.key === 'openRaiserNs')!.value));
  t.true(Number.isNaN(figs.find((f) => f.key === 'openRaiserShare')!.value));
  t.is(figs.find((f) => f.key === 'openAbsorbed')!.value, 12);
});

test("openLoopWorkers: the run's workers, but one fewer than the CPUs so the raiser has one; never none", (t) => {
  t.is(openLoopWorkers(2, 2), 1);
  t.is(openLoopWorkers(2, 1), 1);
  t.is(openLoopWorkers(2, 3), 2);
  t.is(openLoopWorkers(2, 16), 2);
  t.is(openLoopWorkers(8, 4), 3);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 512 }), (threads, cpus) => {
      const w = openLoopWorkers(threads, cpus);
      t.true(w >= 1 && w <= threads);
      t.true(w === 1 || w + 1 <= cpus, 'the raiser keeps a CPU unless only one worker is left');
      t.true(w === threads || w + 1 >= cpus, 'no worker is taken that the CPUs could hold');
    }),
  );
});

test('the open loop rows: the target on the raiser-has-a-CPU phase, the shared and deferred storms beside it', (t) => {
  const run = fakeRun(1);
  const p = (raises: number, p50: number, share: number, ns: number) => ({
    raisesPerSec: raises,
    latencyUs: { p50 },
    extra: { raiserCpuNsPerRaise: ns, raiserCpuShare: share },
  });
  const phases = run.phases as unknown as Record<string, unknown>;
  phases.open = p(20e6, 90, 0.98, 45);
  phases.openShared = p(9e6, 40, 0.64, 70);
  phases.openDeferred = p(23e6, 60, 0.9, 33);
  run.options.openWorkers = 1;
  const by = (key: string) => figuresOf(run).find((f) => f.key === key)!;
  t.is(by('openAbsorbed').label, 'open loop raises absorbed from one raiser thread, 1 worker');
  t.is(by('openAbsorbed').value, 20);
  t.true(meets(by('openAbsorbed').value, by('openAbsorbed').target));
  t.is(by('openRaiserShare').value, 0.98);
  t.is(
    by('openSharedAbsorbed').label,
    'open loop, 2 workers sharing 2 CPUs with the raiser: raises absorbed',
  );
  t.is(by('openSharedAbsorbed').value, 9);
  t.is(by('openSharedAbsorbed').target, undefined);
  t.is(by('openSharedRaiserShare').value, 0.64);
  t.is(by('openDeferredAbsorbed').label, 'open loop, 2 workers, pollWaitMicros 200: raises absorbed');
  t.is(by('openDeferredAbsorbed').value, 23);
  t.is(by('openDeferredRaiserNs').value, 33);
  // the deferred storm runs on 2 workers: its p50 is over the shared storm's, not the 1-worker one's
  t.is(by('openDeferredP50VsDefault').value, 60 / 40);
  // a machine where the workers and the raiser all fit: no shared phase, the deferral against `open`
  delete phases.openShared;
  run.options.openWorkers = 2;
  t.is(by('openAbsorbed').label, 'open loop raises absorbed from one raiser thread, 2 workers');
  t.true(Number.isNaN(by('openSharedAbsorbed').value));
  t.true(Number.isNaN(by('openSharedRaiserShare').value));
  t.is(by('openDeferredP50VsDefault').value, 60 / 90);
});
