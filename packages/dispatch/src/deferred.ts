/**
 * Deferred work (the bottom half): `thread(vector, ctx)` runs on a piscina pool owned by the main
 * thread, with schedule_work's semantics:
 * - a service worker queues a vector's work by setting its QUEUED bit with compareExchange; only the
 *   call that flips 0 → 1 rings this module's doorbell, every other one is counted as coalesced;
 * - the run clears QUEUED as it starts, so a raise during the run queues it again;
 * - a vector's runs never overlap: a request that arrives while the previous run is still going
 *   waits for it (the workqueue's non-reentrancy), so at most one run per vector is executing and at
 *   most one more is waiting.
 *
 * The request channel is a Doorbell with one id per vector: it is a set, not a queue, so it cannot
 * overflow however many requests arrive — and the QUEUED bit means there is at most one per vector
 * anyway. The main thread sleeps in `waitAsync` and drains every ready id per wake.
 */
import { fileURLToPath } from 'node:url';
import { DispatchError, type DispatchState, toError, VC, VECTOR_WORDS, VI } from '@virq/handler/internal';
import { Doorbell } from 'atomics-sync';
import { Piscina } from 'piscina';

/** What the deferred-task module receives as piscina `workerData`. */
export interface DeferredWorkerData {
  /** URL of the user's handler module. */
  moduleUrl: string;
  /** Everything the per-vector context needs (see @virq/handler's context.ts). */
  env: unknown;
}

/** Options of {@link DeferredWork}. */
export interface DeferredWorkOptions {
  state: DispatchState;
  /** Pool threads (piscina min = max). */
  threads: number;
  workerData: DeferredWorkerData;
  /** Called when a run throws or its thread dies. */
  onError(pos: number, error: Error): void;
  /** Runs can be aborted ({@link DeferredWork.abortRun}): each gets an AbortSignal. */
  abortable?: boolean;
  /** close() waits this long for runs to finish before it destroys the pool anyway (ms). */
  closeTimeoutMs?: number;
  /** @internal The piscina task module (default: deferred-task.js); tests load a slower one. */
  taskFile?: URL;
}

/**
 * The message a pool thread posts (parentPort) once its task module has been evaluated: see
 * {@link DeferredWork.close} for why the main thread must wait for it.
 */
export const THREAD_LOADED = 'virqDeferredThreadLoaded';

/** How long close() waits for a pool thread still loading its task module before destroying it anyway. */
const LOAD_WAIT_MS = 10_000;

/** The task posted to piscina: the vector's position. */
export interface DeferredTask {
  pos: number;
}

/** The main-thread side of deferred work: the request doorbell, the pool, and flush on close. */
export class DeferredWork {
  /** Doorbell the service workers ring with a vector position; id `vectors` is reserved for close. */
  readonly doorbell: Doorbell;
  private readonly state: DispatchState;
  private readonly pool: Piscina<DeferredTask, number>;
  private readonly onError: (pos: number, error: Error) => void;
  /** Positions with a run executing. */
  private readonly running = new Set<number>();
  /** Positions whose request arrived while their previous run was executing. */
  private readonly waiting = new Set<number>();
  private readonly stopId: number;
  private closing = false;
  private loopDone: Promise<void> | undefined;
  private idle: (() => void) | undefined;
  /** The abort of each running run (abortable pools only). */
  private readonly aborts = new Map<number, AbortController>();
  /** Runs the watchdog aborted: their rejection is expected. */
  private readonly aborted = new Set<number>();
  private readonly abortable: boolean;
  private readonly closeTimeoutMs: number;
  /** Pool threads (threadId) whose task module has been evaluated. */
  private readonly loaded = new Set<number>();
  /** Wakes a close() waiting for pool threads to load. */
  private poolChanged: (() => void) | undefined;

  constructor(options: DeferredWorkOptions) {
    this.state = options.state;
    this.onError = options.onError;
    this.stopId = options.state.vectors;
    this.abortable = options.abortable === true;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 30_000;
    const capacity = options.state.vectors + 1;
    this.doorbell = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(capacity)), 0, capacity);
    this.pool = new Piscina<DeferredTask, number>({
      filename: fileURLToPath(options.taskFile ?? new URL('./deferred-task.js', import.meta.url)),
      minThreads: options.threads,
      maxThreads: options.threads,
      // The default (0) makes idle workers churn; a deferred pool lives as long as the dispatcher.
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: options.workerData,
    });
    this.pool.on('message', (m: unknown) => {
      const id = (m as Record<string, unknown> | null)?.[THREAD_LOADED];
      if (typeof id !== 'number') return;
      this.loaded.add(id);
      this.poolChanged?.();
    });
    this.pool.on('workerDestroy', (w: { id: number }) => {
      this.loaded.delete(w.id);
      this.poolChanged?.();
    });
  }

  /** Starts draining requests. */
  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Runs still executing or waiting (for tests and stats). */
  get outstanding(): number {
    return this.running.size + this.waiting.size;
  }

  private async loop(): Promise<void> {
    const ids = new Int32Array(this.stopId + 1);
    for (;;) {
      const n = this.doorbell.drain(ids);
      let stop = false;
      for (let i = 0; i < n; i++) {
        const pos = ids[i];
        if (pos === this.stopId) stop = true;
        else this.submit(pos);
      }
      if (stop) return;
      if (n === 0) await this.doorbell.waitAsync();
    }
  }

  private submit(pos: number): void {
    if (this.running.has(pos)) {
      this.waiting.add(pos);
      return;
    }
    // QUEUED is cleared by the run as it starts, so a request that finds it clear was already
    // served (a recovering worker re-sends requests it cannot tell were delivered).
    if (this.state.vget(pos, VI.QUEUED) === 0) {
      if (this.idle !== undefined && this.outstanding === 0) this.idle();
      return;
    }
    this.running.add(pos);
    let signal: AbortSignal | undefined;
    if (this.abortable) {
      const ac = new AbortController();
      this.aborts.set(pos, ac);
      signal = ac.signal;
    }
    this.pool.run({ pos }, { signal }).then(
      (prior) => {
        this.aborts.delete(pos);
        this.state.vcount(pos, VC.deferredRuns);
        // The task reports how many runs of this vector were executing when it started.
        if (prior !== 0) this.state.vcount(pos, VC.deferredOverlaps);
        this.finished(pos);
      },
      (err: unknown) => {
        this.aborts.delete(pos);
        // A run whose thread died (terminated by an abort, or crashed) never reached its finally:
        // ACTIVE would name it running forever. No other run of pos can be executing now.
        Atomics.compareExchange(this.state.vi, pos * VECTOR_WORDS + VI.ACTIVE, 1, 0);
        this.state.vcount(pos, VC.deferredRuns);
        this.state.vcount(pos, VC.deferredErrors);
        if (this.aborted.delete(pos)) {
          // The watchdog's restart (it reported the stall): the run did not finish, so it runs again —
          // queued as a raise would queue it, unless a request is already on its way.
          if (this.state.tryQueue(pos)) {
            this.state.vcount(pos, VC.deferredQueued);
            this.waiting.add(pos);
          }
          this.finished(pos);
          return;
        }
        this.finished(pos);
        this.onError(
          pos,
          new DispatchError('ERR_VIRQ_THREAD', `deferred work failed: ${toError(err).message}`, {
            cause: err,
          }),
        );
      },
    );
  }

  /**
   * Aborts the running run of `pos` (the watchdog's restart): piscina terminates the thread running
   * it — the only way to stop a synchronous task — and starts a new one. The run then counts as
   * failed and is queued again. No-op unless the pool is abortable and `pos` is running.
   */
  abortRun(pos: number): void {
    const ac = this.aborts.get(pos);
    if (ac === undefined) return;
    this.aborted.add(pos);
    ac.abort(new Error('stalled: aborted by the watchdog'));
  }

  private finished(pos: number): void {
    this.running.delete(pos);
    if (this.waiting.delete(pos)) this.submit(pos);
    else if (this.idle !== undefined && this.outstanding === 0) this.idle();
  }

  /**
   * Flushes and closes: call once no service worker can queue any more. Runs every request still in
   * the doorbell, waits for all runs (and the reruns they owe) to finish, then destroys the pool.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.doorbell.ring(this.stopId);
    await this.loopDone;
    // Requests rung after the loop saw the stop id.
    const ids = new Int32Array(this.stopId + 1);
    const n = this.doorbell.drain(ids);
    for (let i = 0; i < n; i++) if (ids[i] !== this.stopId) this.submit(ids[i]);
    if (this.outstanding > 0) {
      // Bounded: a run stuck for good would otherwise hold stop() forever; destroy() terminates it.
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, this.closeTimeoutMs);
      });
      clearTimeout(timer);
    }
    await this.threadsLoaded();
    await this.pool.destroy();
  }

  /**
   * Resolves once every pool thread has evaluated its task module (or after LOAD_WAIT_MS). The threads
   * start with the pool (minThreads), and one terminated while its module graph loads can take the
   * process down: piscina loads the task module with require(), which on Node 20 is require(esm), and
   * a terminate that lands while V8 instantiates the graph aborts the whole process ("FATAL ERROR:
   * v8::Module::IsGraphAsync must be used on an instantiated module": Node checks the graph for
   * top-level await without looking whether the instantiation was terminated). A Dispatcher stopped
   * within ~100 ms of its start destroyed such threads; 100 start/storm/stop cycles aborted in 5 of
   * 6 runs at load ~15. Service workers wait for theirs the same way (WorkerSlot.terminate).
   */
  private async threadsLoaded(): Promise<void> {
    const deadline = performance.now() + LOAD_WAIT_MS;
    for (;;) {
      if (this.pool.threads.every((w) => this.loaded.has(w.threadId))) return;
      const left = deadline - performance.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.poolChanged = resolve;
        timer = setTimeout(resolve, left);
      });
      this.poolChanged = undefined;
      clearTimeout(timer);
    }
  }
}
