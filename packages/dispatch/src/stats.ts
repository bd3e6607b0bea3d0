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

  constructor(
    readonly path: string,
    intervalMs: number,
    private readonly snapshot: () => unknown,
  ) {
    if (!Number.isFinite(intervalMs) || intervalMs < 10) {
      throw new RangeError(`StatsExporter: intervalMs must be >= 10, got ${intervalMs}`);
    }
    this.write();
    this.timer = setInterval(() => this.write(), intervalMs);
    // Stats alone must not keep a process alive.
    this.timer.unref();
  }

  /** Writes one snapshot now. */
  write(): void {
    if (this.closed) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    const doc = { pid: process.pid, time: Date.now(), ...(this.snapshot() as object) };
    writeFileSync(tmp, JSON.stringify(doc));
    renameSync(tmp, this.path);
  }

  /** Stops writing and removes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    rmSync(this.path, { force: true });
  }
}
