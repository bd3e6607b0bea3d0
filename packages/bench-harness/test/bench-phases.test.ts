import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { runDispatcherPhase } from '../src/phase-dispatch.js';
import { runEventfdPhase } from '../src/phase-eventfd.js';
import { runLatencyPhase } from '../src/phase-latency.js';

// Smoke tests of the bench phases: they run, and their accounting is exact. No timing is asserted.
const fds = () => readdirSync('/proc/self/fd').length;

/** True when this kernel lets every process use io_uring (io_uring_disabled = 0; the file is 6.6+). */
function ioUringAllowed(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

test.serial('latency phase: every raise the raiser made is counted once and accounted for', async (t) => {
  const before = fds();
  const r = await runLatencyPhase({ durationMs: 200, warmupMs: 20 });
  const a = r.accounting;
  t.true(a.expected > 0, `expected ${a.expected}`);
  t.is(a.raised, a.expected);
  t.is(a.raised, a.delivered + a.coalesced + a.pending + a.dropped);
  t.true(a.balanced, JSON.stringify(a));
  // One vector, one raise outstanding at a time: a raise is never coalesced into another.
  t.is(a.coalesced, 0);
  t.is(r.gapMs, 0.3);
  // Read from /proc for threads that were alive through the window: a count, never NaN or negative.
  for (const p of [r.busyPreemptionsPerSec, r.busyRawPreemptionsPerSec])
    t.true(Number.isFinite(p) && p >= 0, `${p}/s`);
  t.is(fds(), before, 'no fd left behind');
});

test.serial('kernel-eventfd phase: exact accounting over kernel eventfds, and the C drain ran', async (t) => {
  const before = fds();
  const r = await runEventfdPhase({ vectors: 16, durationMs: 150, warmupMs: 20 });
  const a = r.dispatch.accounting!;
  t.true(a.expected >= 16, 'the raiser made at least one batch');
  t.is(a.raised, a.expected);
  t.is(a.raised, a.delivered + a.coalesced + a.pending + a.dropped);
  t.true(a.balanced, JSON.stringify(a));
  t.is(r.skipped, undefined, 'gcc and bench/c are there in this checkout');
  t.is(r.cSamples.length, 7);
  t.true(
    r.cSamples.every((ns) => ns > 0),
    `C drain samples ${r.cSamples.join(', ')} ns`,
  );
  t.is(r.ratio, r.dispatchNsPerEvent / r.cNsPerEvent);
  // The C drain racing the raiser: its own accounting (every raise drained or read back) throws when
  // off, so reaching here means it balanced; it drained something and measured its CPU doing so.
  const racing = r.racing!;
  t.true(racing.raised >= 16, 'the raiser made at least one batch for the C drain');
  t.true(racing.cNsPerRead > 0 && racing.readsPerWait >= 1, JSON.stringify(racing));
  t.is(r.racingRatio, r.dispatchNsPerEvent / racing.cNsPerEvent);
  // The like-for-like C drain reads through io_uring; where io_uring is allowed it must have run, and the
  // dispatcher's own sets must read the same way.
  const uringAllowed = ioUringAllowed();
  if (uringAllowed) {
    t.true(r.uring !== undefined && 'ratio' in r.uring, JSON.stringify(r.uring));
    if (r.uring && 'ratio' in r.uring) {
      t.is(r.uring.samples.length, 7);
      t.is(r.uring.ratio, r.dispatchNsPerEvent / r.uring.nsPerEvent);
    }
    t.is(r.readPath, 'io_uring');
    t.is(r.signalPath, 'io_uring', "the raiser's batches are signalled through the thread's ring");
  } else {
    t.true(r.readPath === 'read' || r.readPath === 'io_uring', `readPath ${r.readPath}`);
    t.true(r.signalPath === 'write' || r.signalPath === 'io_uring', `signalPath ${r.signalPath}`);
  }
  t.true(
    Number(r.dispatch.extra!.handledPerBatch) >= 1,
    `handledPerBatch ${r.dispatch.extra!.handledPerBatch}`,
  );
  // The moderated run: the same exact accounting against its own raiser, the same C floor.
  const m = r.moderated;
  const ma = m.dispatch.accounting!;
  t.is(m.coalesceMicros, 200);
  t.true(ma.expected >= 16, `the moderated raiser raised ${ma.expected}`);
  t.is(ma.raised, ma.expected);
  t.is(ma.raised, ma.delivered + ma.coalesced + ma.pending + ma.dropped);
  t.true(ma.balanced, JSON.stringify(ma));
  t.is(m.ratio, m.nsPerEvent / r.cNsPerEvent);
  // The worker sleeps out most of this 75 ms run; its CPU is read in ns (schedstat), so it is never 0.
  t.true(m.nsPerEvent > 0, `moderated: ${m.nsPerEvent} ns per event over ${m.dispatch.handled} handled`);
  t.is(fds(), before, 'no fd left behind');
});

for (const loop of ['closed', 'open'] as const) {
  test.serial(`${loop} loop at 2048 vectors: raised is exactly what the bench raised`, async (t) => {
    const r = await runDispatcherPhase({
      loop,
      vectors: 2048,
      threads: 2,
      mode: 'hybrid',
      durationMs: 100,
      warmupMs: 20,
    });
    const a = r.accounting!;
    t.true(a.expected >= 2048, `expected ${a.expected}`);
    t.is(a.raised, a.expected);
    t.true(a.balanced, JSON.stringify(a));
    // The raiser's own CPU: read from its thread's schedstat (ns), so present exactly when there is a
    // raiser, and above 0 — it raised. A share cannot pass one CPU by more than the skew between the
    // window's clock reads and the CPU reads (2% of a second, allowed over the window).
    const x = r.extra!;
    if (loop === 'open') {
      t.true(Number(x.raiserCpuNsPerRaise) > 0, `${x.raiserCpuNsPerRaise} ns a raise`);
      t.true(
        Number(x.raiserCpuShare) >= 0 && Number(x.raiserCpuShare) <= 1 + 0.02 / r.seconds,
        `share ${x.raiserCpuShare}`,
      );
    } else {
      t.false('raiserCpuNsPerRaise' in x);
      t.false('raiserCpuShare' in x);
    }
  });
}
