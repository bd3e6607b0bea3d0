/**
 * Stats export for readers in other processes (`virq top`): a JSON snapshot of
 * {@link Dispatcher.stats} written to a file (a tmpfs path such as /dev/shm/virq-<pid>.json is the
 * intended place) every interval, atomically (write a temporary file, then rename), and removed on
 * stop. In-process readers use `Dispatcher.stats()` directly: it only reads shared memory.
 *
 * The seam for a richer exporter: everything lives in two SharedArrayBuffers (the dispatcher's
 * DispatchState, layout.ts, and core's VectorTable); a memory-mapped exporter would copy those
 * bytes with the field tables in layout.ts as the format.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Periodically writes a JSON snapshot to a file. */
export class StatsExporter {
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** A failure was reported and no write succeeded since (one report per failing streak). */
  private failing = false;

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
    const tmp = `${this.path}.${process.pid}.tmp`;
    const doc = { pid: process.pid, time: Date.now(), ...(this.snapshot() as object) };
    try {
      writeFileSync(tmp, JSON.stringify(doc));
      renameSync(tmp, this.path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** Stops writing and removes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    rmSync(this.path, { force: true });
  }
}
