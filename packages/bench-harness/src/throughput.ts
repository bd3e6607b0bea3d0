/**
 * The throughput harness: @virq/dispatch on 256 MSI-X vectors of a SoftDevice with 2 service
 * workers, in a closed loop (each vector re-raised by its handler) and an open loop (a raiseMany
 * storm from one more thread, on a worker fewer where the CPUs would not hold it: openLoopWorkers),
 * against two baselines measured in the same run: one piscina task per
 * event, and one kernel eventfd write + epoll wake per event. Then the figures of issue 12, each
 * against its own baseline in the same run: raise → handler latency (phase-latency.ts), the
 * dispatcher over kernel eventfds against a C epoll drain (phase-eventfd.ts), and CPU per event at
 * 2048 vectors against 16. `virq bench` calls {@link runThroughputBench}; report.ts turns results
 * into figures and summarises several runs.
 */
import { rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { DispatchMode } from '@virq/dispatch';
import { type CpuCapacity, measureCpuCapacity } from './cpu-speed.js';
import { POLL_WAIT_MICROS, runDispatcherPhase } from './phase-dispatch.js';
import { compileC, runEventfdPhase } from './phase-eventfd.js';
import { runLatencyPhase } from './phase-latency.js';
import { runEpollBaseline } from './throughput-epoll.js';
import type { LatencySummary } from './throughput-latency.js';
import { runPiscinaBaseline } from './throughput-piscina.js';
import { type EventfdResult, type LatencyResult, type PhaseResult, pooledPhase } from './throughput-types.js';

export { runDispatcherPhase } from './phase-dispatch.js';
export type {
  Accounting,
  EventfdResult,
  LatencyResult,
  PhaseResult,
  RacingDrain,
} from './throughput-types.js';

/** Options of {@link runThroughputBench}. */
export interface ThroughputOptions {
  /** Total measuring time over all phases, ms (each phase also warms up). Default 10000. */
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
  /** The 1/5/15-minute load averages when the run started and when it ended. */
  load: { start: number[]; end: number[] };
  /** What the CPUs delivered just before the first phase and just after the last ({@link CpuCapacity}). */
  cpuCapacity?: { start?: CpuCapacity; end?: CpuCapacity };
  options: {
    durationMs: number;
    vectors: number;
    threads: number;
    mode: DispatchMode;
    /**
     * Service workers of the open loop ({@link openLoopWorkers}): `threads`, less one if the raiser
     * would otherwise share a CPU with them. Absent from runs of older versions (they used `threads`).
     */
    openWorkers?: number;
  };
  phases: {
    piscina: PhaseResult;
    epoll: PhaseResult;
    closed: PhaseResult;
    /** The open loop on `options.openWorkers` service workers: the raiser has a CPU of its own. */
    open: PhaseResult;
    /**
     * The open loop on `options.threads` service workers when that leaves the raiser no CPU of its own
     * (3 busy threads on 2 CPUs): what the scheduler's sharing costs. Absent when `openWorkers` equals
     * `threads` (it would be `open` again) and from runs of older versions.
     */
    openShared?: PhaseResult;
    /**
     * The open loop on `options.threads` service workers with NAPI deferral (`pollWaitMicros`
     * {@link POLL_WAIT_MICROS}): the polled vectors stay masked through a pause of the raiser. Absent
     * from runs of older versions.
     */
    openDeferred?: PhaseResult;
    /** Closed loop at 16 and at 2048 vectors (the vector-scaling figure). */
    scale16: PhaseResult;
    scale2048: PhaseResult;
    /** The dispatcher over kernel eventfds (the kernel-eventfd figure). */
    eventfd: PhaseResult;
  };
  /** One vector, raise → handler, busy and sleeping, with their raw baselines. */
  latency: LatencyResult;
  /** The kernel-eventfd phase against the C epoll drain. */
  eventfd: EventfdResult;
  ratios: {
    /** Closed-loop handled/s over the piscina baseline's: the target is at least 100. */
    closedVsPiscina: number;
    closedVsEpoll: number;
    /** Open-loop raises absorbed/s over the piscina baseline's events/s. */
    openAbsorbedVsPiscina: number;
    openHandledVsPiscina: number;
    /** CPU per handled event, piscina baseline over closed loop. */
    cpuPiscinaOverClosed: number;
    /** CPU per handled event at 2048 vectors over that at 16 (target at most 1.3). */
    cpu2048Over16: number;
    /** Busy-regime p50 over a raw spin hand-off's. */
    busyP50VsSpin: number;
    /** Sleeping-regime p50 over a raw Atomics.wait/notify wake's (target at most 1.2). */
    sleepingP50VsWake: number;
    sleepingP99VsWake: number;
    /** The service worker's CPU per event over kernel eventfds over C's epoll drain (target at most 1.5). */
    eventfdVsC: number;
    /** The same over the C drain racing the same raiser (the dispatcher's regime; no target). */
    eventfdVsRacingC: number;
    /** The same over the C drain reading through io_uring, as the addon does (like for like; no target). */
    eventfdVsCUring: number;
    /** eventfdVsC with interrupt moderation on (`coalesceMicros`, phase-eventfd.ts). */
    eventfdModeratedVsC: number;
    /** What that moderation costs: its open-loop p50 latency over the unmoderated run's. */
    eventfdModeratedP50VsUnmoderated: number;
  };
  /** True when closedVsPiscina >= 100. */
  targetMet: boolean;
  /** Closed loop at other vector counts (empty unless `sweep` was given). */
  sweep: SweepPoint[];
}

/** a's percentile over b's; NaN unless both have samples (a loaded machine can leave one with none). */
function latencyRatio(a: LatencySummary, b: LatencySummary, p: 'p50' | 'p99'): number {
  return a.count > 0 && b.count > 0 ? a[p] / b[p] : Number.NaN;
}

/** How `durationMs` is shared between the phases (they add up to 1). */
const SHARES = {
  piscina: 0.1,
  epoll: 0.07,
  closed: 0.13,
  open: 0.08,
  openShared: 0.07,
  openDeferred: 0.07,
  latency: 0.15,
  eventfd: 0.19,
  scale: 0.14,
} as const;

/**
 * The open loop's service workers: `threads`, but at most one fewer than the CPUs. The raiser thread
 * stands in for a device, whose raises cost the host's CPUs nothing; sharing a CPU with busy workers
 * it gets the scheduler's share instead (3 busy threads on 2 CPUs: two thirds of one, measured 0.60–0.86
 * in docs/decisions.md), and the figure measures the scheduler. The `openShared` phase keeps that
 * configuration beside it.
 */
export function openLoopWorkers(threads: number, cpus: number): number {
  return Math.max(1, Math.min(threads, cpus - 1));
}

/** {@link measureCpuCapacity} with a freshly compiled C baseline (removed again); undefined without gcc. */
async function cpuCapacityNow(): Promise<CpuCapacity | undefined> {
  const c = compileC();
  if (typeof c === 'string') return undefined;
  try {
    return await measureCpuCapacity(c.bin);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
}

/**
 * Runs every phase one after another, sharing `durationMs` between them ({@link SHARES}), each after
 * a warm-up of a fifth of its time: the piscina and epoll baselines, the dispatcher's closed and open
 * loops, the latency phase, the kernel-eventfd phase with its C baseline, and the closed loop at 16
 * and at 2048 vectors.
 */
export async function runThroughputBench(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const loadStart = loadavg();
  const capacityStart = await cpuCapacityNow();
  const o = {
    durationMs: options.durationMs ?? 10_000,
    vectors: options.vectors ?? 256,
    threads: options.threads ?? 2,
    mode: options.mode ?? 'hybrid',
  };
  const openWorkers = openLoopWorkers(o.threads, availableParallelism());
  const log = options.log ?? (() => {});
  const sweepVectors = options.sweep ?? [];
  const sweepMs = options.sweepMsPerPoint ?? 600;
  const statsFile = options.statsFile;
  // Progress is reported against the planned time (measuring + warm-up), ticking while a phase runs.
  const plannedMs =
    o.durationMs * (openWorkers === o.threads ? 1 - SHARES.openShared : 1) * 1.2 +
    sweepVectors.length * sweepMs * 1.2;
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
    share(SHARES.piscina).durationMs,
    () => runPiscinaBaseline({ vectors: o.vectors, threads: o.threads, ...share(SHARES.piscina) }),
  );
  const epoll = await phase(
    'epoll baseline: eventfd write + epoll wake per event',
    share(SHARES.epoll).durationMs,
    () => runEpollBaseline({ vectors: o.vectors, ...share(SHARES.epoll) }),
  );
  const closed = await phase(
    `dispatch closed loop: ${o.vectors} vectors on ${o.threads} service workers`,
    share(SHARES.closed).durationMs,
    () => runDispatcherPhase({ loop: 'closed', ...o, ...share(SHARES.closed), statsFile }),
  );
  const open = await phase(
    `dispatch open loop: raiseMany storm from one thread, ${openWorkers} service workers`,
    share(SHARES.open).durationMs,
    async () => {
      const r = await runDispatcherPhase({
        loop: 'open',
        ...o,
        threads: openWorkers,
        ...share(SHARES.open),
        statsFile,
      });
      r.name = `dispatch open loop (${o.mode}, ${openWorkers} workers)`;
      return r;
    },
  );
  const openShared =
    openWorkers === o.threads
      ? undefined
      : await phase(
          `dispatch open loop: ${o.threads} service workers and the raiser sharing the CPUs`,
          share(SHARES.openShared).durationMs,
          async () => {
            const r = await runDispatcherPhase({
              loop: 'open',
              ...o,
              ...share(SHARES.openShared),
              statsFile,
            });
            r.name = `dispatch open loop (${o.mode}, ${o.threads} workers)`;
            return r;
          },
        );
  const openDeferred = await phase(
    `dispatch open loop, ${o.threads} service workers, pollWaitMicros ${POLL_WAIT_MICROS}`,
    share(SHARES.openDeferred).durationMs,
    async () => {
      const r = await runDispatcherPhase({
        loop: 'open',
        ...o,
        ...share(SHARES.openDeferred),
        pollWaitMicros: POLL_WAIT_MICROS,
        statsFile,
      });
      r.name = `dispatch open loop (${o.mode}, ${o.threads} workers, pollWaitMicros ${POLL_WAIT_MICROS})`;
      return r;
    },
  );
  const latency = await phase(
    'latency: one vector, busy and sleeping, beside raw spin and wait/notify',
    share(SHARES.latency).durationMs,
    () => runLatencyPhase(share(SHARES.latency)),
  );
  const eventfd = await phase(
    'kernel eventfds: dispatcher (1 worker) beside the C epoll drain',
    share(SHARES.eventfd).durationMs,
    () => runEventfdPhase({ vectors: o.vectors, ...share(SHARES.eventfd) }),
  );
  // The vector-scaling figure is a ratio of two closed loops measured one after the other, and this
  // machine's vCPUs change speed from one second to the next (bench/README.md, "Why `pnpm bench`'s
  // figures spread"): so each count is measured twice, in the order 16, 2048, 2048, 16, and pooled
  // (pooledPhase). A drift that is linear over the four windows then costs both counts the same, where
  // 16-then-2048 charged all of it to 2048. Each window is a quarter of the share; the warm-up is that
  // of a half, as before (each window starts its own workers, whose JIT has to warm again).
  const scaleAt = (vectors: number, pass: 1 | 2) =>
    phase(
      `vector scaling: closed loop at ${vectors} vectors (${pass} of 2)`,
      share(SHARES.scale / 4).durationMs,
      async () => {
        const r = await runDispatcherPhase({
          loop: 'closed',
          ...o,
          vectors,
          durationMs: share(SHARES.scale / 4).durationMs,
          warmupMs: share(SHARES.scale / 2).warmupMs,
        });
        r.name = `dispatch closed loop, ${vectors} vectors`;
        return r;
      },
    );
  const scale16a = await scaleAt(16, 1);
  const scale2048a = await scaleAt(2048, 1);
  const scale2048 = pooledPhase(scale2048a, await scaleAt(2048, 2));
  const scale16 = pooledPhase(scale16a, await scaleAt(16, 2));
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
    cpu2048Over16: scale2048.cpuNsPerHandled / scale16.cpuNsPerHandled,
    busyP50VsSpin: latencyRatio(latency.busy, latency.busyRaw, 'p50'),
    sleepingP50VsWake: latencyRatio(latency.sleeping, latency.sleepingRaw, 'p50'),
    sleepingP99VsWake: latencyRatio(latency.sleeping, latency.sleepingRaw, 'p99'),
    eventfdVsC: eventfd.ratio,
    eventfdVsRacingC: eventfd.racingRatio ?? Number.NaN,
    eventfdVsCUring: eventfd.uring && 'ratio' in eventfd.uring ? eventfd.uring.ratio : Number.NaN,
    eventfdModeratedVsC: eventfd.moderated.ratio,
    eventfdModeratedP50VsUnmoderated: eventfd.moderated.p50VsUnmoderated,
  };
  return {
    machine: { node: process.version, cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown' },
    load: { start: loadStart, end: loadavg() },
    cpuCapacity: { start: capacityStart, end: await cpuCapacityNow() },
    options: { ...o, openWorkers },
    phases: {
      piscina,
      epoll,
      closed,
      open,
      ...(openShared ? { openShared } : {}),
      openDeferred,
      scale16,
      scale2048,
      eventfd: eventfd.dispatch,
    },
    latency,
    eventfd,
    ratios,
    targetMet: ratios.closedVsPiscina >= 100,
    sweep,
  };
}

/** A readable report of a result. */
export function formatThroughput(r: ThroughputResult): string {
  const fmt = (n: number) =>
    n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
  const rows = Object.values(r.phases);
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
