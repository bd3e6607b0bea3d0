/**
 * Dispatcher: turns a device's interrupt vectors into work on threads.
 *
 * start(): binds a trigger to every serviced vector (SET_IRQS, DATA_EVENTFD | ACTION_TRIGGER), spawns
 * one service worker per affinity slot and a piscina pool for deferred work. Service workers run the
 * top half; deferred work runs `thread` on the pool, queued at most once per vector at a time.
 * stop(): stops the workers, flushes deferred work, unbinds and closes the triggers.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import {
  EventFdPool,
  type IrqDevice,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
} from '@virq/core';
import { EventFd } from '@virq/native';
import { Doorbell, type DoorbellHandle } from 'atomics-sync';
import { type AffinitySpec, resolveAffinity } from './affinity.js';
import {
  type MaskOptions,
  maskTimeout,
  maskVector,
  maskVectorAsync,
  readCounters,
  unmaskVector,
  type VectorCounters,
} from './context.js';
import { DeferredWork } from './deferred.js';
import { attachEnv, type Env, type EnvHandle, type EoiSpec } from './env.js';
import { DispatchError, toError } from './errors.js';
import { DispatchState, H, VI, WC, WI, WORKER_COUNTERS, WORKER_WORDS, WorkerState } from './layout.js';
import { moduleUrl } from './module.js';
import type { ServiceWorkerData, WorkerMessage } from './service-worker.js';
import { type ControlMessage, type LoopTuning, MODE } from './servicer.js';
import { StatsExporter } from './stats.js';
import type { TriggerSpec } from './trigger-sets.js';

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
   * an epoll set per worker (needs @virq/native). Default: 'memory' for a SoftDevice, else 'eventfd'.
   */
  triggers?: 'memory' | 'eventfd';
  /** Deferred-work (piscina) threads; default 1. */
  deferredThreads?: number;
  /** Cloned into every thread and given to handlers as `ctx.data`. */
  data?: unknown;
  /** Spin this long (µs) for more work before sleeping; default 0 for 'interrupt', 50 otherwise. */
  spinMicros?: number;
  /** Consecutive empty polls that end a NAPI poll cycle; default 4. */
  idlePolls?: number;
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
}

/** One service worker's statistics. */
export interface WorkerStats {
  /** Slot number (what affinity maps to). */
  id: number;
  state: 'starting' | 'running' | 'sleeping' | 'stopped' | 'dead';
  threadId: number;
  /** Replacements after crashes. */
  incarnation: number;
  /** Vectors it owns. */
  owned: number;
  /** Blocking waits that returned with work. */
  wakeups: number;
  /** Handler calls. */
  events: number;
  /** NAPI polls. */
  polls: number;
  /** Spin episodes before sleeping. */
  spins: number;
  /** Blocking waits entered. */
  sleeps: number;
  /** Collects that returned work. */
  batches: number;
  handlerErrors: number;
  /** Times this slot's worker was replaced. */
  restarts: number;
}

/** What {@link Dispatcher.stats} returns. */
export interface DispatcherStats {
  running: boolean;
  mode: DispatchMode;
  index: number;
  vectors: VectorCounters[];
  workers: WorkerStats[];
  /** Sums over vectors. */
  totals: {
    raised: number;
    delivered: number;
    coalesced: number;
    pending: number;
    dropped: number;
    handled: number;
    handlerErrors: number;
    deferredQueued: number;
    deferredCoalesced: number;
    deferredRuns: number;
    deferredErrors: number;
    redelivered: number;
  };
  /** Deferred runs executing or waiting right now. */
  deferredOutstanding: number;
}

/** The payload of an 'error' event. */
export interface DispatchErrorEvent {
  /** The vector involved, if one was (the handler that threw, or ran when its worker died). */
  vector?: number;
  /** Service-worker slot, for handler and worker errors. */
  workerId?: number;
  error: DispatchError;
}

interface Slot {
  id: number;
  worker: Worker | undefined;
  port: import('node:worker_threads').MessagePort | undefined;
  ready: Promise<void>;
  markReady: () => void;
  failReady: (err: Error) => void;
  lastError: unknown;
  /** Control requests not answered yet (re-sent to a replacement). */
  pending: Map<number, { msg: ControlMessage; resolve: () => void }>;
  /** Consecutive crashes with no handler call completed in between. */
  crashStreak: number;
  /** The worker's events counter when it was spawned. */
  eventsAtSpawn: number;
  exited: Promise<void>;
}

const MODES: Record<DispatchMode, 0 | 1 | 2> = MODE;
/** Crashes in a row without progress after which a slot is not replaced any more. */
const CRASH_LOOP = 5;
const STATES = ['starting', 'running', 'sleeping', 'stopped', 'dead'] as const;

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
    throw new DispatchError(
      'EINVAL',
      `Dispatcher: ${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${String(value)}`,
    );
  }
}

/**
 * Services interrupt vectors of a device on worker threads. Events: 'error'
 * ({@link DispatchErrorEvent}) for a handler that threw, deferred work that failed and a worker that
 * died (it is replaced); 'restart' `{ workerId }` once a replacement runs. Without an 'error'
 * listener, errors become process warnings rather than exceptions: a crash-recovering dispatcher
 * should not take the process down for a failing handler.
 */
export class Dispatcher extends EventEmitter {
  /** The vector numbers serviced, by position. */
  readonly vectors: readonly number[];
  /** The irq index serviced. */
  readonly index: number;
  /** Number of service workers. */
  readonly workerCount: number;
  /** The mode. */
  readonly mode: DispatchMode;
  private readonly o: DispatcherOptions;
  private readonly url: string;
  private owners: Int32Array;
  /** Vector number → position, built once (mask/unmask/ownerOf are called on hot paths). */
  private readonly positions: Map<number, number>;
  private state: DispatchState | undefined;
  private env: Env | undefined;
  private envHandle: EnvHandle | undefined;
  private triggers: TriggerSpec[] = [];
  private deferred: DeferredWork | undefined;
  private slots: Slot[] = [];
  private closers: (() => void)[] = [];
  private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private seq = 0;
  private tuning: LoopTuning | undefined;
  private exporter: StatsExporter | undefined;
  private moves: Promise<void> = Promise.resolve();

  constructor(options: DispatcherOptions) {
    super();
    this.o = options;
    if (!options || typeof options !== 'object')
      throw new DispatchError('EINVAL', 'Dispatcher: options required');
    const { device } = options;
    if (!device || typeof device.setIrqs !== 'function' || !device.vectorTable) {
      throw new DispatchError('EINVAL', 'Dispatcher: device must be an IrqDevice');
    }
    this.index = options.index ?? VFIO_PCI_MSIX_IRQ_INDEX;
    const v = options.vectors;
    const list = typeof v === 'number' ? Array.from({ length: v }, (_, i) => i) : [...v];
    if (list.length === 0) throw new DispatchError('EINVAL', 'Dispatcher: no vectors to service');
    const seen = new Set<number>();
    for (const x of list) {
      if (!Number.isInteger(x) || x < 0 || x > 2047) {
        throw new DispatchError('EINVAL', `Dispatcher: bad vector ${String(x)}`);
      }
      if (seen.has(x))
        throw new DispatchError('EINVAL', `Dispatcher: vector ${x} listed twice`, { vector: x });
      seen.add(x);
    }
    this.vectors = list;
    this.positions = new Map(list.map((v, pos) => [v, pos]));
    this.workerCount = options.workers ?? 2;
    if (!Number.isInteger(this.workerCount) || this.workerCount < 1 || this.workerCount > 256) {
      throw new DispatchError(
        'EINVAL',
        `Dispatcher: workers must be in 1..256, got ${String(options.workers)}`,
      );
    }
    const level = this.index === VFIO_PCI_INTX_IRQ_INDEX;
    this.mode = options.mode ?? (level ? 'interrupt' : 'hybrid');
    if (!(this.mode in MODES))
      throw new DispatchError('EINVAL', `Dispatcher: unknown mode ${String(this.mode)}`);
    if (level && this.mode !== 'interrupt') {
      throw new DispatchError(
        'EINVAL',
        `Dispatcher: INTx is serviced in 'interrupt' mode only (automasked level), not '${this.mode}'`,
      );
    }
    const budget = options.budget ?? 64;
    if (!Number.isInteger(budget) || budget < 1) {
      throw new DispatchError(
        'EINVAL',
        `Dispatcher: budget must be a positive integer, got ${String(budget)}`,
      );
    }
    this.owners = resolveAffinity(options.affinity ?? 'spread', list, this.workerCount);
    this.url = moduleUrl(options.module);
    const h = options.hybrid ?? {};
    checkNumber('spinMicros', options.spinMicros, 0, 1_000_000, false);
    checkNumber('idlePolls', options.idlePolls, 1, 1_000_000, true);
    checkNumber('hybrid.pollAbove', h.pollAbove, 0, Number.MAX_SAFE_INTEGER, false);
    checkNumber('hybrid.interruptBelow', h.interruptBelow, 0, Number.MAX_SAFE_INTEGER, false);
    // windowMs 0 would make a hybrid worker never block, a negative one sleep forever.
    checkNumber('hybrid.windowMs', h.windowMs, 0.001, 60_000, false);
    checkNumber('deferredThreads', options.deferredThreads, 1, 256, true);
    checkNumber('statsIntervalMs', options.statsIntervalMs, 10, 2_147_483_647, false);
    checkNumber('timeoutMs', options.timeoutMs, 1, 2_147_483_647, false);
    this.tuning = {
      mode: MODES[this.mode],
      budget,
      spinMicros: options.spinMicros ?? (this.mode === 'interrupt' ? 0 : 50),
      idlePolls: options.idlePolls ?? 4,
      pollAbove: h.pollAbove ?? 2_000,
      interruptBelow: h.interruptBelow ?? 500,
      windowMs: h.windowMs ?? 10,
    };
    if (this.tuning.interruptBelow > this.tuning.pollAbove) {
      throw new DispatchError('EINVAL', 'Dispatcher: hybrid.interruptBelow must not exceed pollAbove');
    }
  }

  private get timeout(): number {
    return this.o.timeoutMs ?? 30_000;
  }

  /** Binds the triggers, starts the workers and the deferred pool; resolves once all serve. */
  async start(): Promise<void> {
    if (this.phase !== 'new')
      throw new DispatchError('ESTATE', `Dispatcher: cannot start when ${this.phase}`);
    this.phase = 'starting';
    try {
      await this.doStart();
    } catch (err) {
      // stop() called meanwhile owns the teardown: wait for it rather than run a second one.
      if (this.stopping !== undefined) {
        await this.stopping;
        throw err;
      }
      // 'stopping' before teardown: workers that were ready and now exit on STOP are not crashes
      // (in 'starting' exited() would report them and spawn replacements that outlive start()).
      this.phase = 'stopping';
      await this.teardown();
      this.phase = 'stopped';
      throw err;
    }
    this.phase = 'running';
  }

  private async doStart(): Promise<void> {
    const { device } = this.o;
    const n = this.vectors.length;
    const info = device.getIrqInfo(this.index);
    for (const v of this.vectors) {
      if (v >= info.count) {
        throw new DispatchError('EINVAL', `Dispatcher: vector ${v} beyond the index's ${info.count}`, {
          vector: v,
        });
      }
    }
    const kind = this.o.triggers ?? (device instanceof SoftDevice ? 'memory' : 'eventfd');
    const state = DispatchState.create(this.vectors, this.workerCount);
    this.state = state;
    state.header[H.MODE] = MODES[this.mode];
    state.header[H.BUDGET] = this.tuning!.budget;
    const bells: DoorbellHandle[] = [];
    const wakeFds: number[] = [];
    const level = this.index === VFIO_PCI_INTX_IRQ_INDEX;
    let data: unknown[];
    let unmaskEfd: SharedEventFd | EventFd | undefined;
    let eoi: EoiSpec | undefined;
    if (kind === 'memory') {
      // Each doorbell takes its bytes rounded up to 64, plus a 64-byte descriptor (eventfd-pool.ts).
      const perBell = Math.ceil(Doorbell.byteLength(n + 1) / 64) * 64 + 64;
      const pool = EventFdPool.create({
        capacity: n + (level ? 1 : 0),
        doorbellBytes: this.workerCount * perBell,
      });
      // Runs last: once the triggers are unbound and closed, no thread of this process keeps the
      // pool registered (the workers' registries went with them).
      this.closers.push(() => {
        device.vectorTable.unregisterPool(pool);
        pool.unregister();
      });
      // Each closer is pushed right after its create: a create that fails part way (pool full,
      // EMFILE) must not leak the ones made before it.
      const efds: SharedEventFd[] = [];
      for (let pos = 0; pos < n; pos++) {
        const e = SharedEventFd.create({ pool, nonblock: true });
        efds.push(e);
        this.closers.push(() => {
          if (!e.closed) e.close();
        });
      }
      if (level) {
        const u = SharedEventFd.create({ pool, nonblock: true });
        this.closers.push(() => {
          if (!u.closed) u.close();
        });
        unmaskEfd = u;
        eoi = { kind: 'memory', efd: u.handle };
      }
      for (let w = 0; w < this.workerCount; w++) bells.push(pool.createDoorbell(n + 1).handle);
      const handles = efds.map((e) => e.handle);
      this.triggers = bells.map((bell) => ({ kind: 'memory', bell, triggers: handles }));
      data = efds;
    } else {
      const efds: EventFd[] = [];
      for (let pos = 0; pos < n; pos++) {
        const e = EventFd.create({ nonblock: true });
        efds.push(e);
        this.closers.push(() => e.close());
      }
      if (level) {
        const u = EventFd.create({ nonblock: true });
        this.closers.push(() => u.close());
        unmaskEfd = u;
        eoi = { kind: 'eventfd', fd: u.fd };
      }
      const fds = efds.map((e) => e.fd);
      for (let w = 0; w < this.workerCount; w++) {
        const wake = EventFd.create({ nonblock: true });
        this.closers.push(() => wake.close());
        wakeFds.push(wake.fd);
        const bell = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(n + 1)), 0, n + 1);
        bells.push(bell.handle);
      }
      this.triggers = bells.map((bell, w) => ({ kind: 'eventfd', bell, fds, wakeFd: wakeFds[w] }));
      data = efds;
    }
    this.bind(data);
    if (unmaskEfd !== undefined) this.bindUnmask(unmaskEfd);
    for (let pos = 0; pos < n; pos++) {
      state.vset(pos, VI.OWNER, this.owners[pos]);
      state.vset(pos, VI.MODE, this.mode === 'poll' ? 1 : 0);
    }
    this.envHandle = {
      state: state.handle,
      table: device.vectorTable.handle,
      index: this.index,
      vectors: [...this.vectors],
      data: this.o.data,
      bells,
      wakeFds,
      eoi,
    };
    this.env = attachEnv(this.envHandle, -1);
    this.deferred = new DeferredWork({
      state,
      threads: this.o.deferredThreads ?? 1,
      workerData: { moduleUrl: this.url, env: this.envHandle },
      onError: (pos, error) => this.fail({ vector: this.vectors[pos], error: error as DispatchError }),
    });
    this.deferred.start();
    for (let w = 0; w < this.workerCount; w++) this.slots.push(this.newSlot(w));
    for (const slot of this.slots) this.spawn(slot, false);
    await this.bounded(Promise.all(this.slots.map((s) => s.ready)), 'service workers did not start');
    // A worker posts 'ready' before it looks at STOP, so every ready can arrive after stop() began
    // tearing down: nothing may be created past this point then (stop() has closed what exists).
    if (this.phase !== 'starting' || this.stopping !== undefined) {
      throw new DispatchError('ESTATE', 'Dispatcher: stop() was called during start()');
    }
    state.header[H.RUNNING] = 1;
    if (this.o.statsFile !== undefined) {
      try {
        this.exporter = new StatsExporter(
          this.o.statsFile,
          this.o.statsIntervalMs ?? 1000,
          () => this.stats(),
          (err) =>
            this.fail({
              error: new DispatchError(
                'EIO',
                `Dispatcher: writing stats to ${this.o.statsFile} failed: ${toError(err).message}`,
                { cause: err },
              ),
            }),
        );
      } catch (err) {
        throw new DispatchError(
          'EIO',
          `Dispatcher: cannot write stats to ${this.o.statsFile}: ${toError(err).message}`,
          {
            cause: err,
          },
        );
      }
    }
  }

  /** SET_IRQS: one trigger per serviced vector; other vectors in the range are left alone. */
  private bind(triggers: unknown[]): void {
    const { device } = this.o;
    const table = device.vectorTable;
    const enabled = table.irqType === this.index;
    const byVector = new Map<number, unknown>();
    for (let i = 0; i < this.vectors.length; i++) byVector.set(this.vectors[i], triggers[i]);
    const sorted = [...this.vectors].sort((a, b) => a - b);
    const runs: [number, number][] = [];
    if (!enabled) {
      // Enabling takes start + count vectors at once (vfio_msi_enable), so one call covers them all;
      // gaps get -1 (no trigger).
      runs.push([sorted[0], sorted[sorted.length - 1]]);
    } else {
      for (const v of sorted) {
        const last = runs[runs.length - 1];
        if (last !== undefined && last[1] === v - 1) last[1] = v;
        else runs.push([v, v]);
      }
    }
    // The unbind step is registered before the first SET_IRQS and covers the runs bound so far, so a
    // run that fails leaves none of the earlier ones bound.
    let done = 0;
    this.closers.push(() => {
      if (done === 0) return;
      if (!enabled) {
        device.setIrqs({
          flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
          index: this.index,
          start: 0,
          count: 0,
        });
      } else {
        for (const [start, end] of runs.slice(0, done)) {
          device.setIrqs({
            flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            index: this.index,
            start,
            count: end - start + 1,
            data: new Int32Array(end - start + 1).fill(-1),
          });
        }
      }
    });
    for (const [start, end] of runs) {
      const data = [];
      for (let v = start; v <= end; v++) data.push(byVector.get(v) ?? -1);
      const r = device.setIrqs({
        flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        index: this.index,
        start,
        count: end - start + 1,
        data: data as never,
      });
      done++;
      if (r > 0) {
        throw new DispatchError('EINVAL', `Dispatcher: the device granted only ${r} vectors`);
      }
    }
  }

  /**
   * INTx: binds the unmask eventfd (ACTION_UNMASK | DATA_EVENTFD, the kernel's virqfd). A write
   * from any thread unmasks the automasked line without a SET_IRQS on this thread.
   */
  private bindUnmask(efd: SharedEventFd | EventFd): void {
    const { device } = this.o;
    const unmask = (data: unknown) =>
      device.setIrqs({
        flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
        index: VFIO_PCI_INTX_IRQ_INDEX,
        start: 0,
        count: 1,
        data: [data] as never,
      });
    unmask(efd);
    // Runs before the trigger is unbound (closers run in reverse).
    this.closers.push(() => {
      unmask(-1);
    });
  }

  private newSlot(id: number): Slot {
    const slot: Slot = {
      id,
      worker: undefined,
      port: undefined,
      ready: Promise.resolve(),
      markReady: () => {},
      failReady: () => {},
      lastError: undefined,
      pending: new Map(),
      crashStreak: 0,
      eventsAtSpawn: 0,
      exited: Promise.resolve(),
    };
    return slot;
  }

  private spawn(slot: Slot, recover: boolean): void {
    const state = this.state!;
    slot.ready = new Promise<void>((resolve, reject) => {
      slot.markReady = resolve;
      slot.failReady = reject;
    });
    // A replacement that dies before it is ready fails the current ready promise; nobody may be
    // awaiting it, so keep that from being an unhandled rejection.
    slot.ready.catch(() => {});
    const owned: number[] = [];
    for (let pos = 0; pos < this.vectors.length; pos++)
      if (state.vget(pos, VI.OWNER) === slot.id) owned.push(pos);
    const { port1, port2 } = new MessageChannel();
    const wd: ServiceWorkerData = {
      slot: slot.id,
      env: this.envHandle!,
      triggers: this.triggers[slot.id],
      moduleUrl: this.url,
      deferredBell: this.deferred!.doorbell.handle,
      owned,
      recover,
      control: port2,
      tuning: this.tuning!,
    };
    state.wset(slot.id, WI.STATE, WorkerState.STARTING);
    slot.eventsAtSpawn = state.wcounter(slot.id, WC.events);
    const worker = new Worker(new URL('./service-worker.js', import.meta.url), {
      workerData: wd,
      transferList: [port2],
      name: `virq-dispatch-${slot.id}`,
    });
    slot.worker = worker;
    slot.port = port1;
    slot.lastError = undefined;
    let isReady = false;
    worker.on('message', (m: WorkerMessage) => {
      if (m.op === 'ready') {
        isReady = true;
        slot.markReady();
        // Requests the previous incarnation never answered: the replacement took over its vectors,
        // so asking again gives the same result.
        for (const p of slot.pending.values()) this.post(slot, p.msg);
        if (recover) this.emit('restart', { workerId: slot.id });
      } else if (m.op === 'acquired' || m.op === 'released') {
        const p = slot.pending.get(m.seq);
        if (p !== undefined) {
          slot.pending.delete(m.seq);
          p.resolve();
        }
      } else if (m.op === 'error') {
        const vector = this.vectors[m.pos];
        const err = toError(m.error);
        this.fail({
          vector,
          workerId: slot.id,
          error: new DispatchError(
            'EHANDLER',
            `handler for vector ${vector} threw: ${err.message}` +
              (m.suppressed > 0 ? ` (${m.suppressed} more errors on this vector not reported)` : ''),
            { vector, workerId: slot.id, cause: err },
          ),
        });
      }
    });
    worker.on('error', (err) => {
      slot.lastError = err;
    });
    slot.exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        port1.close();
        if (slot.worker === worker) {
          slot.worker = undefined;
          slot.port = undefined;
        }
        resolve();
        this.exited(slot, worker, code, isReady);
      });
    });
  }

  private exited(slot: Slot, _worker: Worker, code: number, wasReady: boolean): void {
    const state = this.state!;
    if (this.phase === 'stopping' || this.phase === 'stopped' || Atomics.load(state.header, H.STOP) !== 0) {
      if (!wasReady) slot.failReady(new DispatchError('ESTATE', 'stopped'));
      return;
    }
    // A crash: the worker threw outside a handler, a handler called process.exit(), or it ended for
    // another reason while the dispatcher runs.
    state.wset(slot.id, WI.STATE, WorkerState.DEAD);
    const current = state.wget(slot.id, WI.CURRENT);
    state.wset(slot.id, WI.CURRENT, -1);
    const vector = current >= 0 ? this.vectors[current] : undefined;
    const cause = slot.lastError ?? new Error(`worker exited with code ${code}`);
    const why = slot.lastError !== undefined ? toError(slot.lastError).message : `exit code ${code}`;
    const error = new DispatchError(
      'EWORKER',
      `service worker ${slot.id} died (${why})` +
        (vector !== undefined ? ` while handling vector ${vector}` : ''),
      { vector, workerId: slot.id, cause },
    );
    if (this.phase === 'starting' && !wasReady) {
      slot.failReady(error);
      return;
    }
    this.fail({ vector, workerId: slot.id, error });
    const progressed = state.wcounter(slot.id, WC.events) > slot.eventsAtSpawn;
    slot.crashStreak = progressed ? 0 : slot.crashStreak + 1;
    if (slot.crashStreak >= CRASH_LOOP) {
      // A replacement that dies again without completing a single handler call (its module throws
      // at import, or a poisoned delivery kills every incarnation) is not respawned forever. Its
      // vectors stay pending and accounted; stop() still cleans up.
      this.fail({
        workerId: slot.id,
        error: new DispatchError(
          'EWORKER',
          `service worker ${slot.id} crashed ${CRASH_LOOP} times in a row without progress; not replacing it`,
          { workerId: slot.id, cause },
        ),
      });
      return;
    }
    state.wcount(slot.id, WC.restarts);
    Atomics.add(state.wi, slot.id * WORKER_WORDS + WI.INCARNATION, 1);
    this.spawn(slot, true);
  }

  private fail(e: DispatchErrorEvent): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else process.emitWarning(e.error.message, { code: e.error.code });
  }

  private post(slot: Slot, msg: ControlMessage): void {
    if (slot.port === undefined) return;
    slot.port.postMessage(msg);
    this.env!.kick(slot.id, this.vectors.length);
  }

  private request(slotId: number, msg: ControlMessage): Promise<void> {
    const slot = this.slots[slotId];
    return new Promise<void>((resolve) => {
      slot.pending.set(msg.seq, { msg, resolve });
      this.post(slot, msg);
    });
  }

  private async bounded<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DispatchError('ETIMEDOUT', `Dispatcher: ${what} within ${this.timeout} ms`)),
        this.timeout,
      );
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  private running(what: string): Env {
    if (this.phase !== 'running' || this.env === undefined) {
      throw new DispatchError(
        'ESTATE',
        `Dispatcher: ${what} needs a running dispatcher (it is ${this.phase})`,
      );
    }
    return this.env;
  }

  private posOf(vector: number): number {
    const pos = this.positions.get(vector);
    if (pos === undefined)
      throw new DispatchError('EINVAL', `Dispatcher: vector ${vector} is not serviced`, { vector });
    return pos;
  }

  /**
   * Masks a vector (disable_irq): its raises are held pending, and once this returns no handler
   * of it runs until {@link unmask}. If a handler of it is running, this blocks the calling thread
   * until it returns, at most `options.timeoutMs` (default 1000 ms); then it throws a DispatchError
   * 'ETIMEDOUT' and the vector is unmasked again (or stays masked if it was before the call).
   * Prefer {@link maskAsync} on an event loop that must keep turning.
   */
  mask(vector: number, options?: MaskOptions): void {
    const timeoutMs = maskTimeout(options);
    maskVector(this.running('mask'), this.posOf(vector), timeoutMs);
  }

  /**
   * {@link mask} without blocking the event loop: the mask takes effect at once (no new handler
   * call of the vector starts), and the promise resolves once no handler of it runs. Rejects with
   * 'ETIMEDOUT' after `options.timeoutMs` (default 1000 ms), restoring the mask as {@link mask}
   * does.
   */
  async maskAsync(vector: number, options?: MaskOptions): Promise<void> {
    const timeoutMs = maskTimeout(options);
    await maskVectorAsync(this.running('maskAsync'), this.posOf(vector), timeoutMs);
  }

  /** Unmasks a vector; what was held is delivered. */
  unmask(vector: number): void {
    unmaskVector(this.running('unmask'), this.posOf(vector));
  }

  /** The worker that owns `vector` right now (-1 while it is being moved). */
  ownerOf(vector: number): number {
    return this.state?.vget(this.posOf(vector), VI.OWNER) ?? this.owners[this.posOf(vector)];
  }

  /**
   * Moves vectors between workers while running. Each moved vector is quiesced: its old owner
   * finishes the call in progress and stops waiting on it, ownership changes in shared memory,
   * then the new owner takes it, delivering whatever it holds. Raises meanwhile stay in the
   * trigger or in flight, so nothing is lost and the vector's handler calls stay in order.
   */
  rebalance(affinity: AffinitySpec): Promise<void> {
    const next = resolveAffinity(affinity, this.vectors, this.workerCount);
    const run = this.moves.then(() => this.doRebalance(next));
    this.moves = run.catch(() => {});
    return run;
  }

  private async doRebalance(next: Int32Array): Promise<void> {
    const state = this.state;
    this.running('rebalance');
    const from = new Map<number, number[]>();
    const to = new Map<number, number[]>();
    for (let pos = 0; pos < this.vectors.length; pos++) {
      const cur = state!.vget(pos, VI.OWNER);
      if (cur === next[pos]) continue;
      if (!from.has(cur)) from.set(cur, []);
      from.get(cur)!.push(pos);
      if (!to.has(next[pos])) to.set(next[pos], []);
      to.get(next[pos])!.push(pos);
    }
    await this.bounded(
      Promise.all([...from].map(([w, pos]) => this.request(w, { op: 'release', pos, seq: ++this.seq }))),
      'rebalance: release',
    );
    for (const [w, list] of to) for (const pos of list) state!.vset(pos, VI.OWNER, w);
    await this.bounded(
      Promise.all(
        [...to].map(([w, pos]) => this.request(w, { op: 'acquire', pos, recover: false, seq: ++this.seq })),
      ),
      'rebalance: acquire',
    );
    this.owners = next;
  }

  /** A snapshot of every counter (cheap: shared-memory reads). */
  stats(): DispatcherStats {
    const state = this.state;
    const vectors: VectorCounters[] = [];
    const totals = {
      raised: 0,
      delivered: 0,
      coalesced: 0,
      pending: 0,
      dropped: 0,
      handled: 0,
      handlerErrors: 0,
      deferredQueued: 0,
      deferredCoalesced: 0,
      deferredRuns: 0,
      deferredErrors: 0,
      redelivered: 0,
    };
    const workers: WorkerStats[] = [];
    if (state !== undefined && this.env !== undefined) {
      for (let pos = 0; pos < this.vectors.length; pos++) {
        const c = readCounters(state, this.env.ops, pos);
        vectors.push(c);
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += c[k];
      }
      for (let w = 0; w < this.workerCount; w++) {
        const ws: Record<string, number> = {};
        for (const k of WORKER_COUNTERS) ws[k] = state.wcounter(w, WC[k]);
        workers.push({
          id: w,
          state: STATES[state.wget(w, WI.STATE)] ?? 'dead',
          threadId: state.wget(w, WI.THREAD_ID),
          incarnation: state.wget(w, WI.INCARNATION),
          owned: state.wget(w, WI.OWNED),
          ...(ws as Omit<WorkerStats, 'id' | 'state' | 'threadId' | 'incarnation' | 'owned'>),
        });
      }
    }
    return {
      running: this.phase === 'running',
      mode: this.mode,
      index: this.index,
      vectors,
      workers,
      totals,
      deferredOutstanding: this.deferred?.outstanding ?? 0,
    };
  }

  /**
   * Stops: service workers finish the call in progress and exit, deferred work queued so far runs
   * to completion, the pool is destroyed, triggers are unbound (SET_IRQS) and closed. Resolves when
   * no worker, fd or timer of this dispatcher is left. Raises still pending stay pending (and
   * accounted) in the vector table.
   */
  stop(): Promise<void> {
    if (this.stopping !== undefined) return this.stopping;
    if (this.phase === 'new') {
      this.phase = 'stopped';
      return Promise.resolve();
    }
    // During start(), mark it at once: start() checks the phase when its workers are ready.
    if (this.phase === 'starting') this.phase = 'stopping';
    this.stopping = (async () => {
      await this.moves;
      this.phase = 'stopping';
      await this.teardown();
      this.phase = 'stopped';
    })();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    this.exporter?.close();
    this.exporter = undefined;
    const state = this.state;
    if (state !== undefined) {
      Atomics.store(state.header, H.STOP, 1);
      for (const slot of this.slots)
        if (slot.worker !== undefined) this.env?.kick(slot.id, this.vectors.length);
      const all = Promise.all(this.slots.map((s) => s.exited));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), this.timeout);
      });
      // A handler stuck in JS never reaches the loop again; terminate() can stop it (a native wait
      // it could not, which is why we kicked first).
      if ((await Promise.race([all, late])) === 'late') {
        for (const slot of this.slots) await slot.worker?.terminate();
        await all;
      }
      clearTimeout(timer);
      for (const slot of this.slots) for (const p of slot.pending.values()) p.resolve();
    }
    await this.deferred?.close();
    this.deferred = undefined;
    if (state !== undefined) state.header[H.RUNNING] = 0;
    for (const close of this.closers.reverse()) {
      try {
        close();
      } catch (err) {
        this.fail({
          error: new DispatchError('ESTATE', `Dispatcher: teardown step failed: ${toError(err).message}`, {
            cause: err,
          }),
        });
      }
    }
    this.closers = [];
  }
}
