/** Result types of the throughput harness (bench/throughput.ts). */
import type { LatencySummary } from './throughput-latency.js';

/** One measured phase (a baseline or a dispatcher run). */
export interface PhaseResult {
  /** What ran. */
  name: string;
  /** Threads used, in words ("2 service workers + main raising"). */
  threads: string;
  /** Measured wall time. */
  seconds: number;
  /** Handler (top-half) calls in the window. */
  handled: number;
  /** Raises made in the window. */
  raises: number;
  /** Raises coalesced into another delivery in the window. */
  coalesced: number;
  handledPerSec: number;
  /** Raises absorbed per second: raised and accounted for (delivered or coalesced). */
  raisesPerSec: number;
  coalescedPct: number;
  /** Raise → handler latency, µs. */
  latencyUs: LatencySummary;
  /** Process CPU time (all threads, user + system) per handled event, ns. */
  cpuNsPerHandled: number;
  /** Phase-specific extras (mode switches, wakeups per handled...). */
  extra?: Record<string, number | string>;
  /** Dispatcher phases: the whole run's accounting after stop(), see {@link Accounting}. */
  accounting?: Accounting;
}

/**
 * A dispatcher phase's whole-run accounting after stop(), from core's vector table. `balanced` holds
 * when raised === delivered + coalesced + pending + dropped (every raise delivered, coalesced into a
 * delivery, still pending, or dropped by a teardown: none lost) and raised === expected, the raises
 * the bench's own threads made (none unrouted, none counted twice).
 */
export interface Accounting {
  raised: number;
  delivered: number;
  coalesced: number;
  pending: number;
  dropped: number;
  /** Raises the bench itself made, counted by the threads that made them. */
  expected: number;
  balanced: boolean;
}

/** A phase's counts over its window and the rates they give: the one place a {@link PhaseResult}'s rates are computed. */
export function phaseCounts(seconds: number, handled: number, raises: number, coalesced: number) {
  return {
    seconds,
    handled,
    raises,
    coalesced,
    handledPerSec: handled / seconds,
    raisesPerSec: raises / seconds,
    coalescedPct: raises > 0 ? (100 * coalesced) / raises : 0,
  };
}

/**
 * The result of a one-delivery-per-event baseline (piscina task, eventfd + epoll wake): every raise is
 * handled on its own, so raises = handled and nothing coalesces.
 */
export function baselineResult(p: {
  name: string;
  threads: string;
  seconds: number;
  handled: number;
  latencyUs: LatencySummary;
  cpu: NodeJS.CpuUsage;
}): PhaseResult {
  return {
    name: p.name,
    threads: p.threads,
    ...phaseCounts(p.seconds, p.handled, p.handled, 0),
    latencyUs: p.latencyUs,
    cpuNsPerHandled: ((p.cpu.user + p.cpu.system) * 1000) / Math.max(1, p.handled),
  };
}

/**
 * Two windows of the same dispatcher phase as one: counts and seconds summed, rates and CPU per event
 * over the sums (so each window weighs by the events it handled, not by being one of two), accountings
 * summed and balanced only if both were. Per-event extras are weighted by handled in the same way;
 * `polls` is summed. Latency percentiles cannot be pooled from two summaries, so it keeps the window
 * whose p99 is the worse: pooling never makes the tail look better than either window did.
 */
export function pooledPhase(a: PhaseResult, b: PhaseResult): PhaseResult {
  const handled = a.handled + b.handled;
  const seconds = a.seconds + b.seconds;
  const raises = a.raises + b.raises;
  const coalesced = a.coalesced + b.coalesced;
  const perHandled = (x: number, y: number) =>
    handled > 0 ? (x * a.handled + y * b.handled) / handled : (x + y) / 2;
  const extra: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(a.extra ?? {})) {
    const w = b.extra?.[k];
    extra[k] = typeof v !== 'number' || typeof w !== 'number' ? v : k === 'polls' ? v + w : perHandled(v, w);
  }
  const pooled: PhaseResult = {
    name: a.name,
    threads: a.threads,
    ...phaseCounts(seconds, handled, raises, coalesced),
    latencyUs: a.latencyUs.p99 >= b.latencyUs.p99 ? a.latencyUs : b.latencyUs,
    cpuNsPerHandled: perHandled(a.cpuNsPerHandled, b.cpuNsPerHandled),
    ...(a.extra ? { extra } : {}),
  };
  if (a.accounting && b.accounting) {
    const x = a.accounting;
    const y = b.accounting;
    pooled.accounting = {
      raised: x.raised + y.raised,
      delivered: x.delivered + y.delivered,
      coalesced: x.coalesced + y.coalesced,
      pending: x.pending + y.pending,
      dropped: x.dropped + y.dropped,
      expected: x.expected + y.expected,
      balanced: x.balanced && y.balanced,
    };
  }
  return pooled;
}

/** What runLatencyPhase (phase-latency.ts) measures. */
export interface LatencyResult {
  /** Dispatcher, both sides spinning. */
  busy: LatencySummary;
  /** Raw spin hand-off, both sides spinning. */
  busyRaw: LatencySummary;
  /** Dispatcher, the worker asleep in its doorbell at each raise. */
  sleeping: LatencySummary;
  /** Raw Atomics.wait/notify wake with the same pause. */
  sleepingRaw: LatencySummary;
  /** Whether kicker and receiver were pinned to CPUs 0 and 1. */
  pinned: boolean;
  /**
   * Busy regimes: preemptions of the two pinned spinning threads per second of the window (each one
   * a sample that waited for whatever ran instead): what moves the busy p99 from run to run.
   */
  busyPreemptionsPerSec: number;
  busyRawPreemptionsPerSec: number;
  /** The sleeping regime's pause before each kick, ms. */
  gapMs: number;
  /** The dispatcher runs' accounting, summed: raised must equal the raiser's raises. */
  accounting: Accounting;
}

/** What runEventfdPhase (phase-eventfd.ts) measures. */
export interface EventfdResult {
  dispatch: PhaseResult;
  /** The service worker's CPU per handled event, ns (thread clock). */
  dispatchNsPerEvent: number;
  /** C's epoll drain per event, ns: the median of its samples, and the samples. */
  cNsPerEvent: number;
  cSamples: number[];
  /** dispatchNsPerEvent / cNsPerEvent; NaN when the C baseline could not run (see `skipped`). */
  ratio: number;
  /** Why the C baseline did not run (no gcc, no bench/c in this installation). */
  skipped?: string;
  /** The same dispatcher with interrupt moderation (`coalesceMicros`), against the same C drain. */
  moderated: {
    coalesceMicros: number;
    dispatch: PhaseResult;
    /** Its service worker's CPU per handled event, ns. */
    nsPerEvent: number;
    /** nsPerEvent / cNsPerEvent (NaN without the C baseline). */
    ratio: number;
    /** Its first-raise → handled p50 over the unmoderated run's: what moderation costs in latency. */
    p50VsUnmoderated: number;
  };
  /** The C drain racing the same raiser (phase-eventfd.ts, `drain-fds`), when it ran. */
  racing?: RacingDrain;
  /**
   * The same C drain with every ready counter read through one io_uring_enter (`drain-uring`), as the
   * addon's drain reads them: the like-for-like floor. Absent when io_uring is not usable here
   * (`skipped` of this object says why).
   */
  uring?: { nsPerEvent: number; samples: number[]; ratio: number } | { skipped: string };
  /** How this machine's epoll sets read counters (`Epoll.readPath` after a drain of two): the worker's too. */
  readPath?: string;
  /** How the raiser's batches signal their eventfds (`eventfdSignalPath`): io_uring, or one write() each. */
  signalPath?: string;
  /** dispatchNsPerEvent / racing.cNsPerEvent: the dispatcher over C in the same regime. */
  racingRatio?: number;
}

/** The C drain of eventfds the bench's raiser writes meanwhile (native-baseline `drain-fds`). */
export interface RacingDrain {
  /** The C thread's CPU per read, ns (thread clock over its measured window). */
  cNsPerRead: number;
  /** Its CPU per raise drained (a read may take more than one), ns. */
  cNsPerEvent: number;
  /** Reads per epoll_wait that found work: how much each wait had gathered. */
  readsPerWait: number;
  /** Raises the raiser made, every one drained or read back afterwards. */
  raised: number;
}
