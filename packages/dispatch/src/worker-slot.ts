/**
 * One service-worker slot: the slot number affinity maps vectors to, and the worker thread that
 * serves it now. A slot spawns its worker, tracks its readiness, answers control requests (release /
 * acquire during a rebalance, re-sent to a replacement), and replaces a worker that dies while the
 * dispatcher runs — unless it keeps dying without progress (a crash loop).
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import {
  CUR,
  DispatchError,
  type DispatchErrorEvent,
  type DispatchState,
  H,
  toError,
  VI,
  WC,
  WI,
  WORKER_WORDS,
  WorkerState,
} from '@virq/handler/internal';
import type { ServiceWorkerData, WorkerMessage } from './service-worker.js';
import type { ControlMessage } from './servicer.js';

/** Crashes in a row without progress after which a slot is not replaced any more. */
export const CRASH_LOOP = 5;

/** What a slot needs from its dispatcher. */
export interface SlotHost {
  readonly state: DispatchState;
  /** Vector numbers by position. */
  readonly vectors: readonly number[];
  /** The worker's data (everything but the per-spawn fields, which the slot fills in). */
  workerData(slot: number): Omit<ServiceWorkerData, 'owned' | 'recover' | 'control'>;
  /** True once the dispatcher is stopping: a worker that exits now is not a crash. */
  stopping(): boolean;
  /** True while start() waits for the first workers. */
  starting(): boolean;
  /** Reports an error (the 'error' event). */
  fail(e: DispatchErrorEvent): void;
  /** A replacement serves (the 'restart' event). */
  restarted(slot: number): void;
  /** Wakes worker `slot` to look at its control port. */
  kick(slot: number): void;
}

/** A service-worker slot and its current worker. */
/** How long terminate() waits for a starting worker to be ready before terminating it anyway. */
const START_WAIT_MS = 10_000;

export class WorkerSlot {
  worker: Worker | undefined;
  private port: MessagePort | undefined;
  /** Resolves once the current worker serves; rejects if it dies first. */
  ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => {};
  private failReady: (err: Error) => void = () => {};
  private lastError: unknown;
  /** Control requests not answered yet (re-sent to a replacement). */
  readonly pending = new Map<number, { msg: ControlMessage; resolve: () => void }>();
  /** Consecutive crashes with no handler call completed in between. */
  private crashStreak = 0;
  /** The worker's events counter when it was spawned. */
  private eventsAtSpawn = 0;
  /** Resolves when the current worker has exited. */
  exited: Promise<void> = Promise.resolve();
  /** Position of the handler the watchdog found stuck on this worker, -1 if none (watchdog.ts). */
  stalled = -1;
  /** The next exit was ours (a watchdog restart): not reported as a crash, replaced all the same. */
  private quietExit = false;

  constructor(
    readonly id: number,
    private readonly host: SlotHost,
  ) {}

  /** Spawns the slot's worker; `recover` for a replacement (it reconciles what the dead one left). */
  spawn(recover: boolean): void {
    const { state, vectors } = this.host;
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    // A replacement that dies before it is ready fails the current ready promise; nobody may be
    // awaiting it, so keep that from being an unhandled rejection.
    this.ready.catch(() => {});
    const owned: number[] = [];
    for (let pos = 0; pos < vectors.length; pos++) if (state.vget(pos, VI.OWNER) === this.id) owned.push(pos);
    const { port1, port2 } = new MessageChannel();
    const wd: ServiceWorkerData = { ...this.host.workerData(this.id), owned, recover, control: port2 };
    state.wset(this.id, WI.STATE, WorkerState.STARTING);
    state.wset(this.id, WI.KILL, 0);
    this.stalled = -1;
    this.eventsAtSpawn = state.wcounter(this.id, WC.events);
    const worker = new Worker(new URL('./service-worker.js', import.meta.url), {
      workerData: wd,
      transferList: [port2],
      name: `virq-dispatch-${this.id}`,
    });
    this.worker = worker;
    this.port = port1;
    this.lastError = undefined;
    let isReady = false;
    worker.on('message', (m: WorkerMessage) => {
      if (m.op === 'ready') {
        isReady = true;
        this.markReady();
        // Requests the previous incarnation never answered: the replacement took over its vectors,
        // so asking again gives the same result.
        for (const p of this.pending.values()) this.post(p.msg);
        if (recover) this.host.restarted(this.id);
      } else if (m.op === 'acquired' || m.op === 'released') {
        const p = this.pending.get(m.seq);
        if (p !== undefined) {
          this.pending.delete(m.seq);
          p.resolve();
        }
      } else if (m.op === 'error') {
        const vector = vectors[m.pos];
        const err = toError(m.error);
        this.host.fail({
          vector,
          workerId: this.id,
          error: new DispatchError(
            'ERR_VIRQ_HANDLER',
            `handler for vector ${vector} threw: ${err.message}` +
              (m.suppressed > 0 ? ` (${m.suppressed} more errors on this vector not reported)` : ''),
            { vector, workerId: this.id, cause: err },
          ),
        });
      }
    });
    worker.on('error', (err) => {
      this.lastError = err;
    });
    this.exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        port1.close();
        if (this.worker === worker) {
          this.worker = undefined;
          this.port = undefined;
        }
        resolve();
        this.onExit(code, isReady);
      });
    });
  }

  private onExit(code: number, wasReady: boolean): void {
    const { state, vectors } = this.host;
    if (this.host.stopping() || Atomics.load(state.header, H.STOP) !== 0) {
      if (!wasReady) this.failReady(new DispatchError('ERR_VIRQ_STATE', 'stopped'));
      return;
    }
    // A crash: the worker threw outside a handler, a handler called process.exit(), or it ended for
    // another reason while the dispatcher runs.
    state.wset(this.id, WI.STATE, WorkerState.DEAD);
    const current = state.wget(this.id, WI.CURRENT);
    state.wset(this.id, WI.CURRENT, -1);
    const vector = current >= 0 ? vectors[current & CUR.POS] : undefined;
    const quiet = this.quietExit;
    this.quietExit = false;
    const cause = this.lastError ?? new Error(`worker exited with code ${code}`);
    const why = this.lastError !== undefined ? toError(this.lastError).message : `exit code ${code}`;
    const error = new DispatchError(
      'ERR_VIRQ_WORKER',
      `service worker ${this.id} died (${why})` +
        (vector !== undefined ? ` while handling vector ${vector}` : ''),
      { vector, workerId: this.id, cause },
    );
    if (this.host.starting() && !wasReady) {
      this.failReady(error);
      return;
    }
    if (!quiet) this.host.fail({ vector, workerId: this.id, error });
    const progressed = state.wcounter(this.id, WC.events) > this.eventsAtSpawn;
    this.crashStreak = progressed ? 0 : this.crashStreak + 1;
    if (this.crashStreak >= CRASH_LOOP) {
      // A replacement that dies again without completing a single handler call (its module throws
      // at import, or a poisoned delivery kills every incarnation) is not respawned forever. Its
      // vectors stay pending and accounted; stop() still cleans up.
      this.host.fail({
        workerId: this.id,
        error: new DispatchError(
          'ERR_VIRQ_WORKER',
          `service worker ${this.id} crashed ${CRASH_LOOP} times in a row without progress; not replacing it`,
          { workerId: this.id, cause },
        ),
      });
      return;
    }
    state.wcount(this.id, WC.restarts);
    Atomics.add(state.wi, this.id * WORKER_WORDS + WI.INCARNATION, 1);
    this.spawn(true);
  }

  /**
   * Terminates the current worker (it is replaced as after a crash) without losing or doubling what
   * it holds: terminate() lands wherever the thread is, and between reading a trigger and storing the
   * count in INFLIGHT, or between recording a delivery and taking it off INFLIGHT, one interrupt would
   * be lost or counted twice. So it lands only where nothing is held in the thread's own memory:
   * inside a handler (CURRENT >= 0 without CUR.BOOK, claimed with compareExchange; should the handler
   * return first, the worker parks before its bookkeeping) or parked at its loop head (WI.KILL, which the worker checks
   * each iteration after a kick). A worker in neither within `graceMs` (stuck outside a handler, e.g.
   * in a driver's NAPI hook) is terminated wherever it is. `quiet`: the caller reported it already.
   */
  async terminate(graceMs: number, quiet = false): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    // A worker still starting holds nothing, but terminate() while its ES modules load leaks the fds
    // of the files being read (Node 20: the soak's terminate fault took the idle fds 19 → 70 in 10
    // minutes at load ~15, each a module file of @virq/* or the handler), and one that dies before it
    // is ready is not replaced as a crash is. So wait until it is ready (or gone); one stuck in its
    // own start is terminated after START_WAIT_MS all the same.
    const started = await Promise.race([
      this.ready.then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(true), START_WAIT_MS).unref()),
    ]);
    if (!started || this.worker !== worker) return;
    const { state } = this.host;
    const wi = state.wi;
    const cur = this.id * WORKER_WORDS + WI.CURRENT;
    if (quiet) this.quietExit = true;
    state.wset(this.id, WI.KILL, 1);
    this.kick();
    const deadline = performance.now() + graceMs;
    for (let nap = 0.05; this.worker === worker; nap = Math.min(nap * 2, 5)) {
      if (state.wget(this.id, WI.KILL) === 2) break;
      const c = Atomics.load(wi, cur);
      const inHandler = c >= 0 && (c & CUR.BOOK) === 0;
      if (inHandler && ((c & CUR.KILL) !== 0 || Atomics.compareExchange(wi, cur, c, c | CUR.KILL) === c))
        break;
      if (performance.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, nap));
    }
    if (this.worker === worker) await worker.terminate();
  }

  /**
   * True while the call the watchdog found stuck still runs. Read live from CURRENT (the watchdog's
   * sample may be stale): once the handler returned, the worker forgets the moved vectors before it
   * reads any control request, so a rebalance may involve it again at once.
   */
  isStalled(): boolean {
    if (this.stalled < 0) return false;
    const c = this.host.state.wget(this.id, WI.CURRENT);
    // The flag the watchdog set is still there: the stuck call has not returned (a new call of the
    // same vector would have stored CURRENT afresh, without it).
    if (c >= 0 && (c & (CUR.EVICT | CUR.BOOK)) === CUR.EVICT && (c & CUR.POS) === this.stalled) return true;
    this.stalled = -1;
    return false;
  }

  /** Wakes the worker to look at its control port and at STOP. */
  kick(): void {
    this.host.kick(this.id);
  }

  /** Posts a control message to the current worker (dropped if there is none) and kicks it. */
  post(msg: ControlMessage): void {
    if (this.port === undefined) return;
    this.port.postMessage(msg);
    this.kick();
  }

  /** Posts a control request; resolves when a worker of this slot has answered it. */
  request(msg: ControlMessage): Promise<void> {
    return new Promise<void>((resolve) => {
      this.pending.set(msg.seq, { msg, resolve });
      this.post(msg);
    });
  }

  /** Resolves every unanswered request (stop: nobody will answer them). */
  abandonRequests(): void {
    for (const p of this.pending.values()) p.resolve();
    this.pending.clear();
  }
}

/**
 * Stops every slot's worker: sets STOP, kicks each one, and waits for them to exit; after `timeoutMs`
 * it terminates the ones still running. A handler stuck in JS never reaches the loop again;
 * terminate() can stop it (a native wait it could not, which is why they are kicked first).
 * Unanswered control requests are resolved: nobody will answer them.
 */
export async function stopWorkers(
  slots: readonly WorkerSlot[],
  state: DispatchState,
  timeoutMs: number,
): Promise<void> {
  Atomics.store(state.header, H.STOP, 1);
  // Wakes a worker sleeping out an interrupt-moderation window (servicer.ts, moderate).
  Atomics.notify(state.header, H.STOP);
  for (const slot of slots) if (slot.worker !== undefined) slot.kick();
  const all = Promise.all(slots.map((s) => s.exited));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), timeoutMs);
  });
  if ((await Promise.race([all, late])) === 'late') {
    // Stuck in a handler (or a native wait): terminate, claiming the handler as a kill does.
    for (const slot of slots) await slot.terminate(100);
    await all;
  }
  clearTimeout(timer);
  for (const slot of slots) slot.abandonRequests();
}
