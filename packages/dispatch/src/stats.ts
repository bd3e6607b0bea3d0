/**
 * Stats export for readers in other processes (`virq top`): a JSON snapshot of
 * {@link Dispatcher.stats} written to a file (virq's defaultStatsFile(): a per-user 0700 directory
 * on a tmpfs) every interval, atomically and privately (snapshot-file.ts: a new 0600 temporary file,
 * then rename), and removed on stop. Each exporter stamps its snapshots with the time it started, so
 * a reader can tell a dispatcher restarted under the same file (counters from zero) from one whose
 * counters went on. In-process readers use `Dispatcher.stats()` directly: it only reads shared memory.
 *
 * The seam for a richer exporter: everything lives in two SharedArrayBuffers (the dispatcher's
 * DispatchState, @virq/handler's layout.ts, and core's VectorTable); a memory-mapped exporter would copy those
 * bytes with the field tables in layout.ts as the format.
 */
import { rmSync } from 'node:fs';
import { writeFilePrivate } from './snapshot-file.js';

/** Periodically writes a JSON snapshot to a file. */
export class StatsExporter {
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** A failure was reported and no write succeeded since (one report per failing streak). */
  private failing = false;
  /** Date.now() when this exporter started: a new value means the counters started again. */
  private readonly started = Date.now();

  /**
   * Writes the first snapshot at once (a failure there throws), then every `intervalMs`. A failing
   * periodic write (ENOSPC, the directory removed) goes to `onError` once per streak of failures
   * and the exporter keeps trying: a timer callback must never throw, that would end the process.
   */
  constructor(
    readonly path: string,
    intervalMs: number,
    private readonly snapshot: () => unknown,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    if (!Number.isFinite(intervalMs) || intervalMs < 10) {
      throw new RangeError(`StatsExporter: intervalMs must be >= 10, got ${intervalMs}`);
    }
    this.write();
    this.timer = setInterval(() => this.tick(), intervalMs);
    // Stats alone must not keep a process alive.
    this.timer.unref();
  }

  private tick(): void {
    try {
      this.write();
      this.failing = false;
    } catch (err) {
      if (this.failing) return;
      this.failing = true;
      try {
        this.onError(err);
      } catch {
        // The reporter itself must not turn into an uncaught exception in a timer.
      }
    }
  }

  /** Writes one snapshot now; throws what the write throws. */
  write(): void {
    if (this.closed) return;
    const doc = { pid: process.pid, time: Date.now(), started: this.started, ...(this.snapshot() as object) };
    writeFilePrivate(this.path, JSON.stringify(doc));
  }

  /** Stops writing and removes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    rmSync(this.path, { force: true });
  }
}
