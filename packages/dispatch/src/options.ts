/**
 * The Dispatcher's options: what a user passes, and the checked, defaulted form the rest of the
 * dispatcher works from. Every check runs in the constructor, before anything is created, and throws
 * an argument error naming the option: TypeError ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE or
 * RangeError ERR_OUT_OF_RANGE, as Node's own.
 */
import { type IrqDevice, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { argTypeError, argValueError, describe, moduleUrl, outOfRange } from '@virq/handler/internal';
import { type AffinitySpec, resolveAffinity } from './affinity.js';
import { type LoopTuning, MODE } from './servicer.js';
import type { StallAction } from './watchdog.js';

/** Servicing mode, see {@link DispatcherOptions.mode}. */
export type DispatchMode = 'interrupt' | 'poll' | 'hybrid';

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  /** The device whose vectors are serviced (SoftDevice, VfioDevice, any IrqDevice). */
  device: IrqDevice;
  /**
   * The irq index; default VFIO_PCI_MSIX_IRQ_INDEX. VFIO_PCI_INTX_IRQ_INDEX (vector 0, mode
   * 'interrupt') is serviced the VFIO way for a level: an unmask eventfd is bound beside the trigger
   * and written after each handler call (see the README's INTx section).
   */
  index?: number;
  /** Vectors to service: a count n (vectors 0..n-1) or a list of vector numbers. */
  vectors: number | readonly number[];
  /** Service workers; default 2. */
  workers?: number;
  /** The handler module: a path, a file: URL string or a URL (see {@link HandlerModule}). */
  module: string | URL;
  /** Vector → worker map; default 'spread'. */
  affinity?: AffinitySpec;
  /** NAPI budget: handler calls per vector per poll cycle; default 64. */
  budget?: number;
  /**
   * - 'interrupt': every delivery comes through the trigger; vectors are never masked by the
   *   dispatcher.
   * - 'poll': NAPI. An interrupt masks its vector, which is then polled (up to `budget` deliveries,
   *   or until `idlePolls` empty polls) and unmasked again.
   * - 'hybrid' (default): per vector, interrupt mode while its measured rate is low and poll mode
   *   while it is high (hysteresis between `interruptBelow` and `pollAbove`), and workers spin
   *   `spinMicros` before sleeping.
   * INTx supports 'interrupt' only (its default): the line is automasked per interrupt by the
   * device side, and NAPI has no device-independent way to keep a level quiet while it polls.
   */
  mode?: DispatchMode;
  /**
   * 'memory': core SharedEventFd triggers and a doorbell per worker; 'eventfd': kernel eventfds and
   * an epoll set per worker (needs @virq/native). Default: 'memory' for a device that signals its
   * triggers in this process (`device.sharedTriggers`, a SoftDevice), else 'eventfd'.
   */
  triggers?: 'memory' | 'eventfd';
  /** Deferred-work (piscina) threads; default 1. */
  deferredThreads?: number;
  /** Cloned into every thread and given to handlers as `ctx.data`. */
  data?: unknown;
  /** Spin this long (µs) for more work before sleeping; default 0 for 'interrupt', 50 otherwise. */
  spinMicros?: number;
  /**
   * Interrupt moderation (as `ethtool -C rx-usecs`): after a look that found work but less than a
   * batch (fewer than 8 ready), a worker waits this long (µs) before it looks for more, so a stream of
   * interrupts is taken in batches. Default 0
   * (off). It trades latency for CPU: the first interrupt after a quiet spell is handled at once,
   * each one behind it waits up to one window longer; with kernel eventfds (`triggers: 'eventfd'`)
   * it saves the epoll_wait a stream otherwise pays every few events (docs/decisions.md). Vectors in
   * NAPI poll mode are not moderated (their polling batches them), and control requests to a worker
   * (rebalance, stop's kick aside) wait out its window. 0..1000000.
   */
  coalesceMicros?: number;
  /** Consecutive empty polls that end a NAPI poll cycle; default 4. */
  idlePolls?: number;
  /**
   * NAPI deferral, as Linux's `napi_defer_hard_irqs` with `gro_flush_timeout`
   * (Documentation/networking/napi.rst, "Software IRQ coalescing"): when a poll round finds no work on
   * any vector of a worker's poll list, the worker waits up to this long (µs) before it polls again,
   * instead of polling back to back. The vectors stay masked meanwhile: a raise is held (the PBA bit)
   * or coalesced into the held one, never signalled, so a raiser that pauses (a device between bursts,
   * or a raiser thread the scheduler took off its CPU) finds its vectors still masked when it resumes
   * rather than all re-armed. Any interrupt or control request to the worker ends the wait early; a
   * cycle still ends after `idlePolls` empty polls, now spread over that many waits. Costs latency: the
   * first raise after a pause waits up to one wait. Default 0 (rounds back to back). 0..1000000.
   * With kernel eventfds (`triggers: 'eventfd'`) the wait is epoll_wait's, in whole milliseconds
   * (rounded up).
   */
  pollWaitMicros?: number;
  /**
   * Hybrid thresholds, raises per second per vector (default: poll at 2000/s and above, back to
   * interrupt below 500/s), and the measurement window (default 10 ms). A vector at 2000/s has an
   * event every 0.5 ms: by then polling it (one CAS per poll, no trigger, no doorbell) is cheaper
   * than taking each raise through its trigger.
   */
  hybrid?: { pollAbove?: number; interruptBelow?: number; windowMs?: number };
  /** Write a JSON stats snapshot to this file (e.g. under /dev/shm) while running. */
  statsFile?: string;
  /** Snapshot period for `statsFile`; default 1000 ms. */
  statsIntervalMs?: number;
  /** Bounded waits for workers (start, rebalance, stop) before ETIMEDOUT; default 30000 ms. */
  timeoutMs?: number;
  /**
   * The watchdog: a handler (or a deferred `thread` run) still running after this long is a stall —
   * the 'stall' event (a StallEvent) fires, and the stuck worker's other vectors move to healthy
   * workers at once. Default 2000 ms; 0 or false turns the watchdog off. Keep it well above the
   * longest call a handler may legitimately make (a mask() waiting on another vector, up to its
   * timeoutMs), and remember a deferred run that awaits counts as running.
   */
  stallMs?: number | false;
  /**
   * What a stall does beyond the event and the move (default 'report'):
   * - 'report': nothing more; if the handler returns after all, its worker goes on with the stuck
   *   vector alone (the others stay where they moved; rebalance() to spread them again).
   * - 'restart': the stuck worker is terminated and replaced, and the delivery it was handling is
   *   delivered again (counted `redelivered`); a stuck deferred run's pool thread is terminated and
   *   replaced, and the run (counted in deferredErrors) is queued again. A handler that hangs on every
   *   delivery of a vector ends in the crash-loop cap, as a crashing one does.
   */
  onStall?: StallAction;
}

/** The options after checking, with every default applied. */
export interface ResolvedOptions {
  device: IrqDevice;
  index: number;
  /** INTx: a level, serviced with an unmask eventfd. */
  level: boolean;
  vectors: readonly number[];
  /** Vector number → position. */
  positions: Map<number, number>;
  workerCount: number;
  mode: DispatchMode;
  /** Initial vector → worker map, by position. */
  owners: Int32Array;
  /** The handler module as a URL string. */
  url: string;
  tuning: LoopTuning;
  triggers: 'memory' | 'eventfd';
  deferredThreads: number;
  data: unknown;
  statsFile: string | undefined;
  statsIntervalMs: number;
  timeoutMs: number;
  /** 0: no watchdog. */
  stallMs: number;
  onStall: StallAction;
}

/** Default {@link DispatcherOptions.stallMs}: 2 s, far above any top half's business, well below a user's patience. */
export const DEFAULT_STALL_MS = 2000;

/** Mode numbers shared with the service workers. */
export const MODES: Record<DispatchMode, 0 | 1 | 2> = MODE;

/** EINVAL unless `value` is undefined or a number in [min, max] (an integer when `integer`). */
function checkNumber(name: string, value: unknown, min: number, max: number, integer: boolean): void {
  if (value === undefined) return;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= min &&
    value <= max &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    const msg = `Dispatcher: ${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${describe(value)}`;
    throw typeof value === 'number' ? outOfRange(msg) : argTypeError(msg);
  }
}

/** Checks `options` and applies the defaults; throws an argument error on the first bad one. */
export function resolveOptions(options: DispatcherOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw argTypeError('Dispatcher: options required');
  const { device } = options;
  if (!device || typeof device.setIrqs !== 'function' || !device.vectorTable) {
    throw argTypeError('Dispatcher: device must be an IrqDevice');
  }
  const index = options.index ?? VFIO_PCI_MSIX_IRQ_INDEX;
  const v = options.vectors;
  const list = typeof v === 'number' ? Array.from({ length: v }, (_, i) => i) : [...v];
  if (list.length === 0) throw argValueError('Dispatcher: no vectors to service');
  const seen = new Set<number>();
  for (const x of list) {
    if (!Number.isInteger(x) || x < 0 || x > 2047) {
      throw outOfRange(`Dispatcher: bad vector ${String(x)}`);
    }
    if (seen.has(x))
      throw Object.assign(argValueError(`Dispatcher: vector ${x} listed twice`), { vector: x });
    seen.add(x);
  }
  const workerCount = options.workers ?? 2;
  if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > 256) {
    throw outOfRange(`Dispatcher: workers must be in 1..256, got ${String(options.workers)}`);
  }
  const level = index === VFIO_PCI_INTX_IRQ_INDEX;
  const mode = options.mode ?? (level ? 'interrupt' : 'hybrid');
  if (!(mode in MODES)) throw argValueError(`Dispatcher: unknown mode ${String(mode)}`);
  if (level && mode !== 'interrupt') {
    throw argValueError(
      `Dispatcher: INTx is serviced in 'interrupt' mode only (automasked level), not '${mode}'`,
    );
  }
  const budget = options.budget ?? 64;
  if (!Number.isInteger(budget) || budget < 1) {
    throw outOfRange(`Dispatcher: budget must be a positive integer, got ${String(budget)}`);
  }
  const owners = resolveAffinity(options.affinity ?? 'spread', list, workerCount);
  const url = moduleUrl(options.module);
  const h = options.hybrid ?? {};
  checkNumber('spinMicros', options.spinMicros, 0, 1_000_000, false);
  checkNumber('coalesceMicros', options.coalesceMicros, 0, 1_000_000, false);
  checkNumber('idlePolls', options.idlePolls, 1, 1_000_000, true);
  checkNumber('pollWaitMicros', options.pollWaitMicros, 0, 1_000_000, false);
  checkNumber('hybrid.pollAbove', h.pollAbove, 0, Number.MAX_SAFE_INTEGER, false);
  checkNumber('hybrid.interruptBelow', h.interruptBelow, 0, Number.MAX_SAFE_INTEGER, false);
  // windowMs 0 would make a hybrid worker never block, a negative one sleep forever.
  checkNumber('hybrid.windowMs', h.windowMs, 0.001, 60_000, false);
  checkNumber('deferredThreads', options.deferredThreads, 1, 256, true);
  checkNumber('statsIntervalMs', options.statsIntervalMs, 10, 2_147_483_647, false);
  checkNumber('timeoutMs', options.timeoutMs, 1, 2_147_483_647, false);
  if (options.stallMs !== false) checkNumber('stallMs', options.stallMs, 0, 2_147_483_647, false);
  const onStall = options.onStall ?? 'report';
  if (onStall !== 'report' && onStall !== 'restart') {
    throw argValueError(`Dispatcher: onStall must be 'report' or 'restart', got ${describe(onStall)}`);
  }
  const tuning: LoopTuning = {
    mode: MODES[mode],
    budget,
    spinMicros: options.spinMicros ?? (mode === 'interrupt' ? 0 : 50),
    coalesceMicros: options.coalesceMicros ?? 0,
    idlePolls: options.idlePolls ?? 4,
    pollWaitMicros: options.pollWaitMicros ?? 0,
    pollAbove: h.pollAbove ?? 2_000,
    interruptBelow: h.interruptBelow ?? 500,
    windowMs: h.windowMs ?? 10,
  };
  if (tuning.interruptBelow > tuning.pollAbove) {
    throw argValueError('Dispatcher: hybrid.interruptBelow must not exceed pollAbove');
  }
  return {
    device,
    index,
    level,
    vectors: list,
    positions: new Map(list.map((v, pos) => [v, pos])),
    workerCount,
    mode,
    owners,
    url,
    tuning,
    triggers: options.triggers ?? (device.sharedTriggers === true ? 'memory' : 'eventfd'),
    deferredThreads: options.deferredThreads ?? 1,
    data: options.data,
    statsFile: options.statsFile,
    statsIntervalMs: options.statsIntervalMs ?? 1000,
    timeoutMs: options.timeoutMs ?? 30_000,
    stallMs: options.stallMs === false ? 0 : (options.stallMs ?? DEFAULT_STALL_MS),
    onStall,
  };
}
