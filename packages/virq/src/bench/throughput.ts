/**
 * The throughput harness: @virq/dispatch on 256 MSI-X vectors of a SoftDevice with 2 service
 * workers, in a closed loop (each vector re-raised by its handler) and an open loop (a raise
 * storm from one more thread), against two baselines measured in the same run: one piscina task per
 * event, and one kernel eventfd write + epoll wake per event. Reports handled/s, raises absorbed/s,
 * coalesced %, raise → handler latency (p50/p99/p999) and CPU per handled event,
 * and the ratios. `virq bench` calls {@link runThroughputBench}.
 */
import { availableParallelism, cpus } from 'node:os';
import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { Dispatcher, type DispatchMode } from '@virq/dispatch';
import { runEpollBaseline } from './throughput-epoll.js';
import { CONTROL, type HandlerData } from './throughput-handler.js';
import { LatencyBuckets, makeClock, summarize } from './throughput-latency.js';
import { runPiscinaBaseline } from './throughput-piscina.js';
import type { PhaseResult } from './throughput-types.js';

export type { PhaseResult } from './throughput-types.js';

/** Options of {@link runThroughputBench}. */
export interface ThroughputOptions {
  /** Total measuring time over all four phases, ms (each phase also warms up). Default 10000. */
  durationMs?: number;
  /** Vectors (MSI-X). Default 256. */
  vectors?: number;
  /** Service workers for the dispatcher, and piscina threads for the baseline. Default 2. */
  threads?: number;
  /** Dispatcher mode. Default 'hybrid'. */
  mode?: DispatchMode;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Progress as a fraction of the planned measuring time (0..1) and the running phase's name. */
  progress?: (fraction: number, phase: string) => void;
  /**
   * Closed-loop handled/s at these vector counts too (a "throughput against vector count" curve), each
   * measured for `sweepMsPerPoint`. Default: none.
   */
  sweep?: number[];
  /** Measuring time per sweep point, ms. Default 600. */
  sweepMsPerPoint?: number;
  /** Dispatcher phases publish stats here (for `virq top`) while they run. */
  statsFile?: string;
}

/** One point of the vector-count sweep. */
export interface SweepPoint {
  vectors: number;
  handledPerSec: number;
  p50Us: number;
  p99Us: number;
  cpuNsPerHandled: number;
}

/** What {@link runThroughputBench} returns (also what --json writes). */
export interface ThroughputResult {
  machine: { node: string; cpus: number; cpuModel: string };
  options: { durationMs: number; vectors: number; threads: number; mode: DispatchMode };
  phases: {
    piscina: PhaseResult;
    epoll: PhaseResult;
    closed: PhaseResult;
    open: PhaseResult;
  };
  ratios: {
    /** Closed-loop handled/s over the piscina baseline's: the target is at least 100. */
    closedVsPiscina: number;
    closedVsEpoll: number;
    /** Open-loop raises absorbed/s over the piscina baseline's events/s. */
    openAbsorbedVsPiscina: number;
    openHandledVsPiscina: number;
    /** CPU per handled event, piscina baseline over closed loop. */
    cpuPiscinaOverClosed: number;
  };
  /** True when closedVsPiscina >= 100. */
  targetMet: boolean;
  /** Closed loop at other vector counts (empty unless `sweep` was given). */
  sweep: SweepPoint[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One dispatcher phase: closed loop (handlers re-raise) or open loop (a raiser thread storms). Exported for focused runs. */
export async function runDispatcherPhase(opts: {
  loop: 'closed' | 'open';
  vectors: number;
  threads: number;
  mode: DispatchMode;
  durationMs: number;
  warmupMs: number;
  statsFile?: string;
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
  };
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
  });
  const errors: Error[] = [];
  d.on('error', (e) => errors.push(e.error));
  await d.start();
  // The table handle now lists the triggers' eventfd pool: hand that one to the raiser.
  data.table = device.vectorTable.handle;
  let raiser: import('node:worker_threads').Worker | undefined;
  let raiserExit: Promise<unknown> = Promise.resolve();
  if (opts.loop === 'closed') {
    const stamps = new Float64Array(data.stamps);
    const clock = makeClock(data.epochMs);
    for (let v = 0; v < opts.vectors; v++) {
      stamps[v] = clock();
      device.raise(index, v);
    }
  } else {
    const { Worker } = await import('node:worker_threads');
    raiser = new Worker(new URL('./throughput-raiser.js', import.meta.url), {
      workerData: { ...data, vectors: opts.vectors },
    });
    raiserExit = new Promise((r) => raiser!.once('exit', r));
  }
  await sleep(opts.warmupMs);
  const s0 = d.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  Atomics.store(control, CONTROL.MEASURING, 1);
  await sleep(opts.durationMs);
  Atomics.store(control, CONTROL.MEASURING, 0);
  const s1 = d.stats();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  Atomics.store(control, CONTROL.STOP, 1);
  await raiserExit;
  await d.stop();
  if (errors.length > 0) throw errors[0];
  const t = d.stats().totals;
  const accounting = {
    raised: t.raised,
    delivered: t.delivered,
    coalesced: t.coalesced,
    pending: t.pending,
    dropped: t.dropped,
    balanced: t.raised === t.delivered + t.coalesced + t.pending + t.dropped,
  };
  const handled = s1.totals.handled - s0.totals.handled;
  const raises = s1.totals.raised - s0.totals.raised;
  const coalesced = s1.totals.coalesced - s0.totals.coalesced;
  const w0 = s0.workers;
  const wakeups = s1.workers.reduce((a, w, i) => a + w.wakeups - w0[i].wakeups, 0);
  const polls = s1.workers.reduce((a, w, i) => a + w.polls - w0[i].polls, 0);
  const inPoll = s1.vectors.filter((v) => v.mode === 'poll').length;
  return {
    name: `dispatch ${opts.loop} loop (${opts.mode})`,
    threads:
      opts.loop === 'closed'
        ? `${opts.threads} service workers (handlers re-raise) + main idle`
        : `${opts.threads} service workers + 1 raiser thread + main idle`,
    seconds,
    handled,
    raises,
    coalesced,
    handledPerSec: handled / seconds,
    raisesPerSec: raises / seconds,
    coalescedPct: raises > 0 ? (100 * coalesced) / raises : 0,
    latencyUs: summarize(lat.totals()),
    cpuNsPerHandled: ((cpu.user + cpu.system) * 1000) / Math.max(1, handled),
    extra: {
      wakeupsPerHandled: wakeups / Math.max(1, handled),
      polls,
      vectorsInPollMode: inPoll,
    },
    accounting,
  };
}

/**
 * Runs the four phases (piscina baseline, epoll baseline, dispatcher closed loop, dispatcher open
 * loop) one after another, sharing `durationMs` between them (closed and open loop get 30% each,
 * each baseline 20%), each after a warm-up of a fifth of its time.
 */
export async function runThroughputBench(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const o = {
    durationMs: options.durationMs ?? 10_000,
    vectors: options.vectors ?? 256,
    threads: options.threads ?? 2,
    mode: options.mode ?? 'hybrid',
  };
  const log = options.log ?? (() => {});
  const sweepVectors = options.sweep ?? [];
  const sweepMs = options.sweepMsPerPoint ?? 600;
  const statsFile = options.statsFile;
  // Progress is reported against the planned time (measuring + warm-up), ticking while a phase runs.
  const plannedMs = o.durationMs * 1.2 + sweepVectors.length * sweepMs * 1.2;
  let doneMs = 0;
  const phase = async <T>(name: string, ms: number, run: () => Promise<T>): Promise<T> => {
    log(name);
    const started = performance.now();
    const report = () =>
      options.progress?.(Math.min(1, (doneMs + (performance.now() - started)) / plannedMs), name);
    report();
    const ticker = options.progress ? setInterval(report, 100) : undefined;
    try {
      return await run();
    } finally {
      clearInterval(ticker);
      doneMs += ms * 1.2;
      options.progress?.(Math.min(1, doneMs / plannedMs), name);
    }
  };
  const share = (f: number) => {
    const ms = Math.max(100, Math.round(o.durationMs * f));
    return { durationMs: ms, warmupMs: Math.max(50, Math.round(ms / 5)) };
  };
  const piscina = await phase(
    `piscina baseline: ${o.threads} threads, ${o.vectors} events in flight`,
    share(0.2).durationMs,
    () => runPiscinaBaseline({ vectors: o.vectors, threads: o.threads, ...share(0.2) }),
  );
  const epoll = await phase(
    'epoll baseline: eventfd write + epoll wake per event',
    share(0.2).durationMs,
    () => runEpollBaseline({ vectors: o.vectors, ...share(0.2) }),
  );
  const closed = await phase(
    `dispatch closed loop: ${o.vectors} vectors on ${o.threads} service workers`,
    share(0.3).durationMs,
    () => runDispatcherPhase({ loop: 'closed', ...o, ...share(0.3), statsFile }),
  );
  const open = await phase('dispatch open loop: raise storm from one thread', share(0.3).durationMs, () =>
    runDispatcherPhase({ loop: 'open', ...o, ...share(0.3), statsFile }),
  );
  const sweep: SweepPoint[] = [];
  for (const vectors of sweepVectors) {
    const point = { durationMs: sweepMs, warmupMs: Math.max(50, Math.round(sweepMs / 5)) };
    const r = await phase(`sweep: closed loop, ${vectors} vectors`, sweepMs, () =>
      runDispatcherPhase({ loop: 'closed', ...o, vectors, ...point, statsFile }),
    );
    sweep.push({
      vectors,
      handledPerSec: r.handledPerSec,
      p50Us: r.latencyUs.p50,
      p99Us: r.latencyUs.p99,
      cpuNsPerHandled: r.cpuNsPerHandled,
    });
  }
  const ratios = {
    closedVsPiscina: closed.handledPerSec / piscina.handledPerSec,
    closedVsEpoll: closed.handledPerSec / epoll.handledPerSec,
    openAbsorbedVsPiscina: open.raisesPerSec / piscina.handledPerSec,
    openHandledVsPiscina: open.handledPerSec / piscina.handledPerSec,
    cpuPiscinaOverClosed: piscina.cpuNsPerHandled / closed.cpuNsPerHandled,
  };
  return {
    machine: { node: process.version, cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown' },
    options: o,
    phases: { piscina, epoll, closed, open },
    ratios,
    targetMet: ratios.closedVsPiscina >= 100,
    sweep,
  };
}

/** A readable report of a result. */
export function formatThroughput(r: ThroughputResult): string {
  const fmt = (n: number) =>
    n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
  const rows = [r.phases.piscina, r.phases.epoll, r.phases.closed, r.phases.open];
  const head = [
    'phase',
    'handled/s',
    'absorbed/s',
    'coalesced',
    'p50 µs',
    'p99 µs',
    'p999 µs',
    'CPU ns/ev',
    'threads',
  ];
  const body = rows.map((p) => [
    p.name,
    fmt(p.handledPerSec),
    fmt(p.raisesPerSec),
    `${p.coalescedPct.toFixed(1)}%`,
    p.latencyUs.p50.toFixed(1),
    p.latencyUs.p99.toFixed(1),
    p.latencyUs.p999.toFixed(1),
    fmt(p.cpuNsPerHandled),
    p.threads,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i === 8 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [
    `throughput: ${r.options.vectors} MSI-X vectors, ${r.options.threads} threads, mode ${r.options.mode}; ` +
      `Node ${r.machine.node}, ${r.machine.cpus} CPUs (${r.machine.cpuModel})`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    `closed loop vs piscina task per event: ${r.ratios.closedVsPiscina.toFixed(1)}x handled/s ` +
      `(target >= 100x: ${r.targetMet ? 'met' : 'NOT met'})`,
    `closed loop vs eventfd+epoll wake per event: ${r.ratios.closedVsEpoll.toFixed(1)}x handled/s`,
    `open loop vs piscina: ${r.ratios.openAbsorbedVsPiscina.toFixed(1)}x raises absorbed/s, ` +
      `${r.ratios.openHandledVsPiscina.toFixed(1)}x handled/s`,
    `CPU per handled event: piscina / closed loop = ${r.ratios.cpuPiscinaOverClosed.toFixed(1)}x`,
    `dispatch closed loop: ${Number(r.phases.closed.extra?.wakeupsPerHandled).toFixed(4)} wake-ups per handled event; ` +
      `open loop: ${r.phases.open.extra?.vectorsInPollMode} vectors in poll mode at the end`,
  ];
  return out.join('\n');
}
