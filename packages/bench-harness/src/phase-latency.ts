/**
 * The latency phase: one vector, raise → handler, the raiser on one thread and the service worker on
 * another (each pinned to its own CPU when there are two and taskset is there), in two regimes:
 * - busy: the service worker spins for work (spinMicros 1 s) and the raiser spins on the ACK; the
 *   baseline is a raw spin hand-off (a shared word bumped by one thread, watched by the other);
 * - sleeping: the raiser pauses `gapMs` before each raise so the worker is asleep in its doorbell;
 *   the baseline is a raw Atomics.wait/notify wake with the same pause.
 * Each figure is the dispatcher's percentile over its baseline's, both measured in the same run.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { Dispatcher } from '@virq/dispatch';
import { type LatencyData, LC, LC_WORDS } from './latency-shared.js';
import { pinThread, threadPreemptions } from './os-threads.js';
import { LatencyBuckets, type LatencySummary, summarize } from './throughput-latency.js';
import type { Accounting, LatencyResult } from './throughput-types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  lat: LatencySummary;
  pinned: boolean;
  kicks: number;
  /** Preemptions of the kicking and the receiving thread per second of the window (see measure). */
  preemptionsPerSec: number;
}

/** Waits (polling) until both tids are known, then pins them apart; false if it could not. */
async function pinPeers(control: Int32Array): Promise<boolean> {
  const end = performance.now() + 10_000;
  while (Atomics.load(control, LC.TID_KICKER) === 0 || Atomics.load(control, LC.TID_RECEIVER) === 0) {
    if (performance.now() > end) return false;
    await sleep(2);
  }
  if (availableParallelism() < 2) return false;
  const a = pinThread(Atomics.load(control, LC.TID_KICKER), 0);
  const b = pinThread(Atomics.load(control, LC.TID_RECEIVER), 1);
  return a && b;
}

/**
 * Warms up, then opens the window for `durationMs`; returns whether the two threads were pinned
 * apart and how often, per second of the window, either of them was preempted: on a 2-CPU machine
 * with both pinned spinning, anything else that runs (another process, this process's main thread
 * or V8's helper threads) runs in their place, and a sample in flight then waits for it.
 */
async function measure(
  control: Int32Array,
  peers: Worker[],
  durationMs: number,
  warmupMs: number,
): Promise<{ pinned: boolean; preemptionsPerSec: number }> {
  const exits = peers.map((w) => new Promise((r) => w.once('exit', r)));
  const errors: Error[] = [];
  for (const w of peers) w.on('error', (e) => errors.push(e));
  let pinned = false;
  let preemptionsPerSec = Number.NaN;
  try {
    pinned = await pinPeers(control);
    await sleep(warmupMs);
    const tids = [Atomics.load(control, LC.TID_KICKER), Atomics.load(control, LC.TID_RECEIVER)];
    const switches = () => tids.reduce((a, tid) => a + threadPreemptions(tid), 0);
    const p0 = switches();
    const t0 = performance.now();
    Atomics.store(control, LC.MEASURING, 1);
    await sleep(durationMs);
    Atomics.store(control, LC.MEASURING, 0);
    preemptionsPerSec = ((switches() - p0) * 1000) / (performance.now() - t0);
  } finally {
    Atomics.store(control, LC.STOP, 1);
    for (const i of [LC.ACK, LC.BELL]) Atomics.notify(control, i);
    await Promise.all(exits);
  }
  if (errors.length > 0) throw errors[0];
  return { pinned, preemptionsPerSec };
}

function shared(regime: 'busy' | 'sleeping', gapMs: number) {
  const lat = LatencyBuckets.create(1);
  const data: Omit<LatencyData, 'role'> = {
    regime,
    gapMs,
    control: new SharedArrayBuffer(LC_WORDS * 4),
    stamp: new SharedArrayBuffer(8),
    latency: lat.buffer,
    epochMs: performance.timeOrigin,
  };
  return { lat, data, control: new Int32Array(data.control) };
}

const peerUrl = new URL('./latency-peer.js', import.meta.url);

async function runRaw(
  regime: 'busy' | 'sleeping',
  gapMs: number,
  ms: number,
  warmupMs: number,
): Promise<Run> {
  const { lat, data, control } = shared(regime, gapMs);
  const waiter = new Worker(peerUrl, { workerData: { ...data, role: 'waiter' } });
  const notifier = new Worker(peerUrl, { workerData: { ...data, role: 'notifier' } });
  const m = await measure(control, [notifier, waiter], ms, warmupMs);
  return { lat: summarize(lat.totals()), pinned: m.pinned, kicks: 0, preemptionsPerSec: m.preemptionsPerSec };
}

async function runDispatch(
  regime: 'busy' | 'sleeping',
  gapMs: number,
  ms: number,
  warmupMs: number,
  acct: Accounting,
): Promise<Run> {
  const { lat, data, control } = shared(regime, gapMs);
  const index = VFIO_PCI_MSIX_IRQ_INDEX;
  const device = new SoftDevice({ msix: { vectors: 1 } });
  const d = new Dispatcher({
    device,
    index,
    vectors: 1,
    workers: 1,
    module: new URL('./latency-handler.js', import.meta.url),
    mode: 'interrupt',
    spinMicros: regime === 'busy' ? 1_000_000 : 0,
    data,
  });
  const errors: Error[] = [];
  d.on('error', (e) => errors.push(e.error));
  await d.start();
  let m = { pinned: false, preemptionsPerSec: Number.NaN };
  try {
    const raiser = new Worker(peerUrl, {
      workerData: { ...data, role: 'raiser', table: device.vectorTable.handle, index },
    });
    m = await measure(control, [raiser], ms, warmupMs);
  } finally {
    await d.stop();
  }
  if (errors.length > 0) throw errors[0];
  const kicks = Atomics.load(control, LC.KICKS);
  const t = d.stats().totals;
  acct.expected = (acct.expected ?? 0) + kicks;
  acct.raised += t.raised;
  acct.delivered += t.delivered;
  acct.coalesced += t.coalesced;
  acct.pending += t.pending;
  acct.dropped += t.dropped;
  acct.balanced = acct.balanced && t.raised === t.delivered + t.coalesced + t.pending + t.dropped;
  return { lat: summarize(lat.totals()), pinned: m.pinned, kicks, preemptionsPerSec: m.preemptionsPerSec };
}

/**
 * Runs the four latency measurements one after another, `durationMs` shared between them (after a
 * warm-up of `warmupMs` each).
 */
export async function runLatencyPhase(opts: {
  durationMs: number;
  warmupMs: number;
  gapMs?: number;
}): Promise<LatencyResult> {
  const gapMs = opts.gapMs ?? 0.3;
  const busyMs = Math.max(50, Math.round(opts.durationMs * 0.2));
  const sleepMs = Math.max(50, Math.round(opts.durationMs * 0.3));
  const acct: Accounting = {
    raised: 0,
    delivered: 0,
    coalesced: 0,
    pending: 0,
    dropped: 0,
    balanced: true,
    expected: 0,
  };
  const busyRaw = await runRaw('busy', gapMs, busyMs, opts.warmupMs);
  const busy = await runDispatch('busy', gapMs, busyMs, opts.warmupMs, acct);
  const sleepingRaw = await runRaw('sleeping', gapMs, sleepMs, opts.warmupMs);
  const sleeping = await runDispatch('sleeping', gapMs, sleepMs, opts.warmupMs, acct);
  acct.balanced = acct.balanced && acct.raised === acct.expected;
  return {
    busy: busy.lat,
    busyRaw: busyRaw.lat,
    sleeping: sleeping.lat,
    sleepingRaw: sleepingRaw.lat,
    pinned: busy.pinned && busyRaw.pinned && sleeping.pinned && sleepingRaw.pinned,
    busyPreemptionsPerSec: busy.preemptionsPerSec,
    busyRawPreemptionsPerSec: busyRaw.preemptionsPerSec,
    gapMs,
    accounting: acct,
  };
}
