/**
 * Dispatcher: turns a device's interrupt vectors into work on threads. This file is the
 * orchestration; each step is its own module:
 *   options.ts      the options, checked and defaulted in the constructor
 *   @virq/bind      provision.ts: the triggers (in-memory or kernel eventfds) and each worker's
 *                   wakeup; bind.ts: SET_IRQS, triggers onto the vectors (and INTx's unmask eventfd)
 *   worker-slot.ts  each service worker: spawn, readiness, control requests, crash replacement
 *   deferred.ts     the piscina pool for deferred work
 *   dispatcher-stats.ts / stats.ts   the counters snapshot and its file
 *
 * start(): provisions and binds a trigger for every serviced vector, spawns one service worker per
 * affinity slot and the deferred pool. Service workers run the top half; deferred work runs `thread`
 * on the pool, queued at most once per vector at a time.
 * stop(): stops the workers, flushes deferred work, unbinds and closes the triggers.
 */
import { EventEmitter } from 'node:events';
import { bindTriggers, bindUnmask, provision, type TriggerSpec } from '@virq/bind';
import {
  attachEnv,
  DispatchError,
  type DispatchErrorEvent,
  DispatchState,
  type Env,
  type EnvHandle,
  H,
  type MaskOptions,
  maskTimeout,
  maskVector,
  maskVectorAsync,
  outOfRange,
  toError,
  unmaskVector,
  VI,
} from '@virq/handler/internal';
import type { AffinitySpec } from './affinity.js';
import { resolveAffinity } from './affinity.js';
import { DeferredWork } from './deferred.js';
import { collectStats, type DispatcherStats } from './dispatcher-stats.js';
import {
  type DispatcherOptions,
  type DispatchMode,
  MODES,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { StatsExporter } from './stats.js';
import { type StallEvent, Watchdog } from './watchdog.js';
import { stopWorkers, WorkerSlot } from './worker-slot.js';

export type { DispatcherStats, WorkerStats } from './dispatcher-stats.js';

/** How long a terminate waits for the worker to reach a point where it holds nothing (worker-slot.ts). */
const KILL_GRACE_MS = 1000;

export type { DispatchErrorEvent } from '@virq/handler/internal';
export type { DispatcherOptions, DispatchMode } from './options.js';
export type { StallAction, StallEvent } from './watchdog.js';

/**
 * Services interrupt vectors of a device on worker threads. Events: 'error'
 * ({@link DispatchErrorEvent}) for a handler that threw, deferred work that failed and a worker that
 * died (it is replaced); 'restart' `{ workerId }` once a replacement runs; 'stall'
 * ({@link StallEvent}) for a handler or deferred run stuck past `stallMs` (watchdog.ts). Without an 'error'
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
  private readonly r: ResolvedOptions;
  private owners: Int32Array;
  private state: DispatchState | undefined;
  private env: Env | undefined;
  private envHandle: EnvHandle | undefined;
  private triggers: TriggerSpec[] = [];
  private deferred: DeferredWork | undefined;
  private slots: WorkerSlot[] = [];
  private closers: (() => void)[] = [];
  private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private seq = 0;
  private exporter: StatsExporter | undefined;
  private moves: Promise<void> = Promise.resolve();
  private watchdog: Watchdog | undefined;

  constructor(options: DispatcherOptions) {
    super();
    this.r = resolveOptions(options);
    this.vectors = this.r.vectors;
    this.index = this.r.index;
    this.workerCount = this.r.workerCount;
    this.mode = this.r.mode;
    this.owners = this.r.owners;
  }

  /** Binds the triggers, starts the workers and the deferred pool; resolves once all serve. */
  async start(): Promise<void> {
    if (this.phase !== 'new')
      throw new DispatchError('ERR_VIRQ_STATE', `Dispatcher: cannot start when ${this.phase}`);
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
      // (in 'starting' a slot would report them and spawn replacements that outlive start()).
      this.phase = 'stopping';
      await this.teardown();
      this.phase = 'stopped';
      throw err;
    }
    this.phase = 'running';
  }

  private async doStart(): Promise<void> {
    const { device, tuning } = this.r;
    const n = this.vectors.length;
    const info = device.getIrqInfo(this.index);
    for (const v of this.vectors) {
      if (v >= info.count) {
        // `vector` names it, as a DispatchError would
        throw Object.assign(outOfRange(`Dispatcher: vector ${v} beyond the index's ${info.count}`), {
          vector: v,
        });
      }
    }
    const state = DispatchState.create(this.vectors, this.workerCount);
    this.state = state;
    state.header[H.MODE] = MODES[this.mode];
    state.header[H.BUDGET] = tuning.budget;
    const p = provision(device, this.r.triggers, n, this.workerCount, this.r.level, this.closers);
    this.triggers = p.triggers;
    const granted = bindTriggers(device, this.index, this.vectors, p.data, this.closers);
    if (granted > 0) {
      throw new DispatchError('ERR_VIRQ_VECTORS', `Dispatcher: the device granted only ${granted} vectors`);
    }
    if (p.unmask !== undefined) bindUnmask(device, p.unmask.efd, this.closers);
    for (let pos = 0; pos < n; pos++) {
      state.vset(pos, VI.OWNER, this.owners[pos]);
      state.vset(pos, VI.MODE, this.mode === 'poll' ? 1 : 0);
    }
    this.envHandle = {
      state: state.handle,
      table: device.vectorTable.handle,
      index: this.index,
      vectors: [...this.vectors],
      data: this.r.data,
      bells: p.bells,
      wakeFds: p.wakeFds,
      eoi: p.unmask?.eoi,
    };
    const env = attachEnv(this.envHandle, -1);
    this.env = env;
    const deferred = new DeferredWork({
      state,
      threads: this.r.deferredThreads,
      workerData: { moduleUrl: this.r.url, env: this.envHandle },
      onError: (pos, error) => this.fail({ vector: this.vectors[pos], error: error as DispatchError }),
      abortable: this.r.stallMs > 0 && this.r.onStall === 'restart',
      closeTimeoutMs: this.r.timeoutMs,
    });
    this.deferred = deferred;
    deferred.start();
    const envHandle = this.envHandle;
    const host = {
      state,
      vectors: this.vectors,
      workerData: (slot: number) => ({
        slot,
        env: envHandle,
        triggers: this.triggers[slot],
        moduleUrl: this.r.url,
        deferredBell: deferred.doorbell.handle,
        tuning,
      }),
      stopping: () => this.phase === 'stopping' || this.phase === 'stopped',
      starting: () => this.phase === 'starting',
      fail: (e: DispatchErrorEvent) => this.fail(e),
      restarted: (workerId: number) => this.emit('restart', { workerId }),
      kick: (slot: number) => env.kick(slot, this.vectors.length),
    };
    for (let w = 0; w < this.workerCount; w++) this.slots.push(new WorkerSlot(w, host));
    for (const slot of this.slots) slot.spawn(false);
    await this.bounded(Promise.all(this.slots.map((s) => s.ready)), 'service workers did not start');
    // A worker posts 'ready' before it looks at STOP, so every ready can arrive after stop() began
    // tearing down: nothing may be created past this point then (stop() has closed what exists).
    if (this.phase !== 'starting' || this.stopping !== undefined) {
      throw new DispatchError('ERR_VIRQ_STATE', 'Dispatcher: stop() was called during start()');
    }
    state.header[H.RUNNING] = 1;
    if (this.r.stallMs > 0) {
      this.watchdog = new Watchdog({
        state,
        vectors: this.vectors,
        slots: this.slots,
        stallMs: this.r.stallMs,
        onStall: this.r.onStall,
        deferred: () => this.deferred,
        stall: (e) => this.stalled(e),
        seq: () => ++this.seq,
      });
    }
    if (this.r.statsFile !== undefined) this.exporter = this.startExporter(this.r.statsFile);
  }

  private startExporter(file: string): StatsExporter {
    try {
      return new StatsExporter(
        file,
        this.r.statsIntervalMs,
        () => this.stats(),
        (err) =>
          this.fail({
            error: new DispatchError(
              'ERR_VIRQ_STATS_FILE',
              `Dispatcher: writing stats to ${file} failed: ${toError(err).message}`,
              { cause: err },
            ),
          }),
      );
    } catch (err) {
      throw new DispatchError(
        'ERR_VIRQ_STATS_FILE',
        `Dispatcher: cannot write stats to ${file}: ${toError(err).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private stalled(e: StallEvent): void {
    if (this.listenerCount('stall') > 0) this.emit('stall', e);
    else {
      const what = e.kind === 'handler' ? `the handler on service worker ${e.worker}` : 'deferred work';
      process.emitWarning(`virq: ${what} of vector ${e.vector} stuck for ${e.ms} ms`, { code: 'VIRQ_STALL' });
    }
  }

  private fail(e: DispatchErrorEvent): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else process.emitWarning(e.error.message, { code: e.error.code });
  }

  private async bounded<T>(p: Promise<T>, what: string): Promise<T> {
    const timeout = this.r.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DispatchError('ERR_VIRQ_TIMEOUT', `Dispatcher: ${what} within ${timeout} ms`)),
        timeout,
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
        'ERR_VIRQ_STATE',
        `Dispatcher: ${what} needs a running dispatcher (it is ${this.phase})`,
      );
    }
    return this.env;
  }

  private posOf(vector: number): number {
    const pos = this.r.positions.get(vector);
    if (pos === undefined)
      throw Object.assign(outOfRange(`Dispatcher: vector ${vector} is not serviced`), { vector });
    return pos;
  }

  /**
   * Masks a vector (disable_irq): its raises are held pending, and once this returns no handler
   * of it runs until {@link unmask}. If a handler of it is running, this blocks the calling thread
   * until it returns, at most `options.timeoutMs` (default 1000 ms); then it throws a DispatchError
   * 'ERR_VIRQ_TIMEOUT' and the vector is unmasked again (or stays masked if it was before the call).
   * Prefer {@link maskAsync} on an event loop that must keep turning.
   */
  mask(vector: number, options?: MaskOptions): void {
    const timeoutMs = maskTimeout(options);
    maskVector(this.running('mask'), this.posOf(vector), timeoutMs);
  }

  /**
   * {@link mask} without blocking the event loop: the mask takes effect at once (no new handler
   * call of the vector starts), and the promise resolves once no handler of it runs. Rejects with
   * 'ERR_VIRQ_TIMEOUT' after `options.timeoutMs` (default 1000 ms), restoring the mask as {@link mask}
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
    // A stalled worker (watchdog.ts) answers nothing: no vector moves onto it or off it.
    const stalled = (w: number) => this.slots[w].isStalled();
    const was = new Int32Array(this.vectors.length);
    for (let pos = 0; pos < this.vectors.length; pos++) {
      const cur = state!.vget(pos, VI.OWNER);
      was[pos] = cur;
      if (cur === next[pos] || stalled(cur) || stalled(next[pos])) continue;
      if (!from.has(cur)) from.set(cur, []);
      from.get(cur)!.push(pos);
      if (!to.has(next[pos])) to.set(next[pos], []);
      to.get(next[pos])!.push(pos);
    }
    await this.bounded(
      Promise.all(
        [...from].map(([w, pos]) => this.slots[w].request({ op: 'release', pos, seq: ++this.seq })),
      ),
      'rebalance: release',
    );
    // A stall meanwhile: the watchdog re-homed the stalled worker's vectors (OWNER changed; its stuck
    // one it kept, never released), or the destination stalled (the old owner takes its vector back).
    const take = new Map<number, number[]>();
    for (const [w, list] of to) {
      for (const pos of list) {
        if (state!.vget(pos, VI.OWNER) !== was[pos] || stalled(was[pos])) continue;
        const dest = stalled(w) ? was[pos] : w;
        state!.vset(pos, VI.OWNER, dest);
        if (!take.has(dest)) take.set(dest, []);
        take.get(dest)!.push(pos);
      }
    }
    await this.bounded(
      Promise.all(
        [...take].map(([w, pos]) =>
          this.slots[w].request({ op: 'acquire', pos, recover: false, seq: ++this.seq }),
        ),
      ),
      'rebalance: acquire',
    );
    this.owners = next;
  }
  /**
   * @internal Fault injection for `virq soak` and the tests: terminate service worker `slot` from
   * outside, as a crash would; crash recovery then replaces it and redelivers what it held in flight.
   * The terminate lands inside a handler or at the loop head, never mid-bookkeeping (see
   * WorkerSlot.terminate): every raise stays accounted.
   */
  async terminateWorker(slot: number): Promise<void> {
    await this.slots[slot]?.terminate(KILL_GRACE_MS);
  }

  /** A snapshot of every counter (cheap: shared-memory reads). */
  stats(): DispatcherStats {
    return collectStats({
      running: this.phase === 'running',
      mode: this.mode,
      index: this.index,
      vectorCount: this.vectors.length,
      workerCount: this.workerCount,
      state: this.state,
      env: this.env,
      deferredOutstanding: this.deferred?.outstanding ?? 0,
    });
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
    this.watchdog?.close();
    this.watchdog = undefined;
    const state = this.state;
    if (state !== undefined) await stopWorkers(this.slots, state, this.r.timeoutMs);
    await this.deferred?.close();
    this.deferred = undefined;
    if (state !== undefined) state.header[H.RUNNING] = 0;
    for (const close of this.closers.reverse()) {
      try {
        close();
      } catch (err) {
        this.fail({
          error: new DispatchError(
            'ERR_VIRQ_STATE',
            `Dispatcher: teardown step failed: ${toError(err).message}`,
            {
              cause: err,
            },
          ),
        });
      }
    }
    this.closers = [];
  }
}
