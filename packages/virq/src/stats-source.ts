import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatcherStats } from '@virq/dispatch';

/**
 * Where dispatchers publish stats for `virq top`: a JSON snapshot file that `Dispatcher` writes
 * atomically every `statsIntervalMs` when given `statsFile` (see {@link defaultStatsFile}). A file,
 * not a socket: a reader can never stall the dispatcher, several readers cost nothing, and a crashed
 * dispatcher leaves a file whose `pid` no longer exists, which top reports as such.
 */

/** A snapshot as written by @virq/dispatch's StatsExporter. */
export interface StatsSnapshot extends DispatcherStats {
  pid: number;
  /** Date.now() at the write. */
  time: number;
}

/** The directory snapshots go in: /dev/shm (tmpfs) when it exists, else the OS temp dir. */
export function statsDir(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // No /dev/shm (not Linux, or a container without it).
  }
  return tmpdir();
}

/** The conventional snapshot path for a process: `<statsDir>/virq-<pid>.json`. */
export function defaultStatsFile(pid: number = process.pid): string {
  return join(statsDir(), `virq-${pid}.json`);
}

/** Snapshot files found in {@link statsDir}, newest first. */
export function findStatsFiles(dir: string = statsDir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^virq-\d+\.json$/.test(n));
  } catch {
    return [];
  }
  return names
    .map((n) => join(dir, n))
    .map((p) => ({ p, t: statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.t - a.t)
    .map(({ p }) => p);
}

/** True if a process with this pid exists (signal 0 probes without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads a snapshot. The writer renames a complete file into place, so a read sees a whole document;
 * an error here means the file is gone (dispatcher stopped) or is not a virq snapshot.
 */
export function readSnapshot(path: string): StatsSnapshot {
  const text = readFileSync(path, 'utf8');
  const doc = JSON.parse(text) as StatsSnapshot;
  if (typeof doc.pid !== 'number' || !Array.isArray(doc.vectors) || !Array.isArray(doc.workers)) {
    throw Object.assign(new Error(`${path} is not a virq stats snapshot`), { code: 'EINVAL' });
  }
  return doc;
}
