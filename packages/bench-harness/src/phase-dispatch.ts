/**
 * One dispatcher phase of the throughput harness: @virq/dispatch on a SoftDevice's MSI-X vectors, in
 * a closed loop (each vector re-raised by its handler) or an open loop (a raiser thread storms with
 * raiseMany), with the phase's exact accounting: core's counters after stop() against the raises
 * the bench's own threads counted.
 */
import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { Dispatcher, type DispatchMode } from '@virq/dispatch';
import { threadCpuNs } from './os-threads.js';
import { CONTROL, countSlots, type HandlerData } from './throughput-handler.js';
import { LatencyBuckets, makeClock, summarize } from './throughput-latency.js';
import { type PhaseResult, phaseCounts } from './throughput-types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The open loop's second run (throughput.ts): NAPI deferral at the wait Linux's
 * Documentation/networking/napi.rst gives as its example (`gro_flush_timeout` 200000 ns), as a
 * throughput-minded user would set it.
 */
export const POLL_WAIT_MICROS = 200;

/** Resolves once the raiser thread set STARTED (it sets it just before its first raise). */
async function waitStarted(control: Int32Array): Promise<void> {
  while (Atomics.load(control, CONTROL.STARTED) === 0) {
    await Atomics.waitAsync(control, CONTROL.STARTED, 0, 1000).value;
  }
}

/** One dispatcher phase: closed loop (handlers re-raise) or open loop (a raiser thread storms). Exported for focused runs. */
export async function runDispatcherPhase(opts: {
  loop: 'closed' | 'open';
  vectors: number;
  threads: number;
  mode: DispatchMode;
  durationMs: number;
  warmupMs: number;
  statsFile?: string;
  /** Trigger kind (default: the device's, 'memory' for a SoftDevice). */
  triggers?: 'memory' | 'eventfd';
  /** The Dispatcher's interrupt moderation window (µs); default 0, off. */
  coalesceMicros?: number;
  /** The Dispatcher's NAPI deferral (µs, pollWaitMicros); default 0, off. */
  pollWaitMicros?: number;
}): Promise<PhaseResult> {
  const index = VFIO_PCI_MSIX_IRQ_INDEX;
  const device = new SoftDevice({ msix: { vectors: opts.vectors } });
  const lat = LatencyBuckets.create(opts.threads);
  const control = new Int32Array(new SharedArrayBuffer(16));
  const data: HandlerData = {
    table: device.vectorTable.handle,
    index,
    stamps: new SharedArrayBuffer(opts.vectors * 8),
    latency: lat.buffer,
    regions: opts.threads,
    epochMs: performance.timeOrigin,
    control: control.buffer,
    counts: new SharedArrayBuffer(countSlots(opts.threads) * 8),
  };
  const counts = new Float64Array(data.counts);
  const w = opts.threads;
  control[CONTROL.CLOSED] = opts.loop === 'closed' ? 1 : 0;
  const d = new Dispatcher({
    device,
    index,
    vectors: opts.vectors,
    workers: opts.threads,
    module: new URL('./throughput-handler.js', import.meta.url),
    mode: opts.mode,
    data,
    statsFile: opts.statsFile,
    statsIntervalMs: opts.statsFile ? 250 : undefined,
    triggers: opts.triggers,
    coalesceMicros: opts.coalesceMicros,
    pollWaitMicros: opts.pollWaitMicros,
  });
  const errors: Error[] = [];
  d.on('error', (e) => errors.push(e.error));
  await d.start();
  // The table handle now lists the triggers' eventfd pool: hand that one to the raiser.
  data.table = device.vectorTable.handle;
  let raiser: import('node:worker_threads').Worker | undefined;
  let raiserExit: Promise<unknown> = Promise.resolve();
  let initial = 0;
  if (opts.loop === 'closed') {
    const stamps = new Float64Array(data.stamps);
    const clock = makeClock(data.epochMs);
    for (let v = 0; v < opts.vectors; v++) {
      stamps[v] = clock();
      device.raise(index, v);
      initial++;
    }
  } else {
    const { Worker } = await import('node:worker_threads');
    raiser = new Worker(new URL('./throughput-raiser.js', import.meta.url), {
      workerData: { ...data, vectors: opts.vectors, raiserSlot: w, tidSlot: 2 * w + 1 },
    });
    const failed = new Promise<never>((_, reject) => raiser!.once('error', reject));
    raiserExit = Promise.race([new Promise((r) => raiser!.once('exit', r)), failed]);
    // The warm-up and the window start once the raiser raises: on a loaded machine a thread can take
    // longer to start than a short phase lasts (the window would then see no raise at all).
    await Promise.race([waitStarted(control), failed]);
  }
  await sleep(opts.warmupMs);
  const tids = Array.from({ length: w }, (_, i) => counts[w + 1 + i]);
  const wcpu0 = tids.map(threadCpuNs);
  const raiserTid = raiser ? counts[2 * w + 1] : -1;
  const rcpu0 = raiser ? threadCpuNs(raiserTid) : 0;
  const s0 = d.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  Atomics.store(control, CONTROL.MEASURING, 1);
  await sleep(opts.durationMs);
  Atomics.store(control, CONTROL.MEASURING, 0);
  const s1 = d.stats();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const workerCpuNs = tids.reduce((a, tid, i) => a + threadCpuNs(tid) - wcpu0[i], 0);
  const raiserCpuNs = raiser ? threadCpuNs(raiserTid) - rcpu0 : Number.NaN;
  Atomics.store(control, CONTROL.STOP, 1);
  // Core's counters are read only after every thread that raises has stopped: the raiser (awaited
  // here) and the service workers' handlers (stopped by d.stop()).
  await raiserExit;
  await d.stop();
  if (errors.length > 0) throw errors[0];
  const t = d.stats().totals;
  let expected = initial + counts[w];
  for (let i = 0; i < w; i++) expected += counts[i];
  const accounting = {
    raised: t.raised,
    delivered: t.delivered,
    coalesced: t.coalesced,
    pending: t.pending,
    dropped: t.dropped,
    expected,
    balanced: t.raised === expected && t.raised === t.delivered + t.coalesced + t.pending + t.dropped,
  };
  const handled = s1.totals.handled - s0.totals.handled;
  const raises = s1.totals.raised - s0.totals.raised;
  const coalesced = s1.totals.coalesced - s0.totals.coalesced;
  const w0 = s0.workers;
  const wakeups = s1.workers.reduce((a, w, i) => a + w.wakeups - w0[i].wakeups, 0);
  const polls = s1.workers.reduce((a, w, i) => a + w.polls - w0[i].polls, 0);
  const batches = s1.workers.reduce((a, w, i) => a + w.batches - w0[i].batches, 0);
  const inPoll = s1.vectors.filter((v) => v.mode === 'poll').length;
  const workers = `${opts.threads} service worker${opts.threads === 1 ? '' : 's'}`;
  return {
    name: `dispatch ${opts.loop} loop (${opts.mode})`,
    threads:
      opts.loop === 'closed'
        ? `${workers} (handlers re-raise) + main idle`
        : `${workers} + 1 raiser thread + main idle`,
    ...phaseCounts(seconds, handled, raises, coalesced),
    latencyUs: summarize(lat.totals()),
    cpuNsPerHandled: ((cpu.user + cpu.system) * 1000) / Math.max(1, handled),
    extra: {
      wakeupsPerHandled: wakeups / Math.max(1, handled),
      polls,
      /** Handler calls per collect that returned work (how much each wake or poll gathered). */
      handledPerBatch: handled / Math.max(1, batches),
      vectorsInPollMode: inPoll,
      /** The service workers' own CPU (threadCpuNs: the scheduler's ns) per handled event, ns. */
      workerCpuNsPerHandled: workerCpuNs / Math.max(1, handled),
      ...(raiser
        ? {
            /**
             * Open loop: the raiser thread's own CPU per raise, ns (threadCpuNs), and
             * the share of one CPU it got. raises/s = share / (ns per raise): the first is the code's
             * cost, the second the scheduler's (3 busy threads on 2 vCPUs, plus anything else running).
             */
            raiserCpuNsPerRaise: raiserCpuNs / Math.max(1, raises),
            raiserCpuShare: raiserCpuNs / 1e9 / seconds,
          }
        : {}),
    },
    accounting,
  };
}
