import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { DispatcherStats } from '@virq/dispatch';

/**
 * Where dispatchers publish stats for `virq top`: a JSON snapshot file that `Dispatcher` writes
 * atomically every `statsIntervalMs` when given `statsFile` (see {@link defaultStatsFile}). A file,
 * not a socket: a reader can never stall the dispatcher, several readers cost nothing, and a crashed
 * dispatcher leaves a file whose `pid` no longer exists, which top reports as such.
 *
 * The files live in a directory of the user's own ($XDG_RUNTIME_DIR/virq, else a 0700
 * /dev/shm/virq-<uid>), never loose in a world-writable one, and top reads only regular files owned
 * by its own user (unless told otherwise): another local user can neither redirect a dispatcher's
 * writes nor feed top a snapshot of their making.
 */

/** A snapshot as written by @virq/dispatch's StatsExporter. */
export interface StatsSnapshot extends DispatcherStats {
  pid: number;
  /** Date.now() at the write. */
  time: number;
  /** Date.now() when the writing dispatcher's exporter started (absent in older snapshots). */
  started?: number;
}

/** An error about the snapshot directory or a snapshot file, with a stable code. */
export class StatsFileError extends Error {
  constructor(
    /**
     * 'ERR_VIRQ_STATS_DIR_UNSAFE': the directory is a symlink, another user's, or open to others;
     * 'ERR_VIRQ_SNAPSHOT_OWNER': the file belongs to another user (or is not a regular file);
     * 'ERR_VIRQ_SNAPSHOT_INVALID': the file does not parse as a virq stats snapshot.
     */
    readonly code: 'ERR_VIRQ_STATS_DIR_UNSAFE' | 'ERR_VIRQ_SNAPSHOT_OWNER' | 'ERR_VIRQ_SNAPSHOT_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'StatsFileError';
  }
}

const uid = (): number => process.getuid?.() ?? 0;

function privateDir(path: string): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return !!st && st.isDirectory() && st.uid === uid() && (st.mode & 0o077) === 0;
}

/**
 * The directory snapshots go in (nothing is created here): `$XDG_RUNTIME_DIR/virq` when the runtime
 * directory is the user's own private one (as systemd makes it), else `virq-<uid>` in /dev/shm
 * (tmpfs), or in the OS temp dir without /dev/shm.
 */
export function statsDir(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg) && privateDir(xdg)) return join(xdg, 'virq');
  let base = tmpdir();
  try {
    if (statSync('/dev/shm').isDirectory()) base = '/dev/shm';
  } catch {
    // No /dev/shm (not Linux, or a container without it).
  }
  return join(base, `virq-${uid()}`);
}

/**
 * Creates {@link statsDir} (mode 0700) if needed and checks it is safe to write in: a real
 * directory, not a symlink, owned by this user, closed to group and others. Someone else may have
 * created the predictable name first: then this refuses rather than writing where they can reach.
 */
export function ensureStatsDir(dir: string = statsDir()): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (!privateDir(dir)) {
    const st = lstatSync(dir);
    const what = st.isSymbolicLink()
      ? 'is a symlink'
      : !st.isDirectory()
        ? 'is not a directory'
        : st.uid !== uid()
          ? `is owned by uid ${st.uid}, not ${uid()}`
          : `has mode ${(st.mode & 0o777).toString(8)}, not 700`;
    throw new StatsFileError(
      'ERR_VIRQ_STATS_DIR_UNSAFE',
      `stats directory ${dir} ${what}: refusing to use it`,
    );
  }
  return dir;
}

/**
 * The conventional snapshot path for a process, `<statsDir>/virq-<pid>.json`; creates and checks the
 * directory (see {@link ensureStatsDir}).
 */
export function defaultStatsFile(pid: number = process.pid): string {
  return join(ensureStatsDir(), `virq-${pid}.json`);
}

/** Which snapshots a reader accepts. */
export interface ReadOptions {
  /** Accept files owned by other users too (default: only this user's). */
  anyUser?: boolean;
}

/** Snapshot files found in `dir` (default {@link statsDir}), newest first; only this user's unless `anyUser`. */
export function findStatsFiles(dir: string = statsDir(), options: ReadOptions = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^virq-\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const found: { p: string; t: number }[] = [];
  for (const n of names) {
    const p = join(dir, n);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isFile() || (!options.anyUser && st.uid !== uid())) continue;
    found.push({ p, t: st.mtimeMs });
  }
  return found.sort((a, b) => b.t - a.t).map(({ p }) => p);
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

/** Snapshots are a few hundred bytes per vector: 2048 vectors stay far below this. */
const MAX_SNAPSHOT_BYTES = 16 << 20;

/**
 * Reads a snapshot. The writer renames a complete file into place, so a read sees a whole document;
 * the file is opened without following a symlink and checked (fstat, on the open file) to be a
 * regular file of this user's unless `anyUser`. Throws ENOENT when it is gone (dispatcher stopped),
 * {@link StatsFileError} when it is not ours or not a valid snapshot: nothing in it is trusted before
 * {@link parseSnapshot} accepts the whole document.
 */
export function readSnapshot(path: string, options: ReadOptions = {}): StatsSnapshot {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new StatsFileError('ERR_VIRQ_SNAPSHOT_OWNER', `${path} is a symlink: not read`);
    }
    throw e;
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new StatsFileError('ERR_VIRQ_SNAPSHOT_OWNER', `${path} is not a regular file`);
    if (!options.anyUser && st.uid !== uid()) {
      throw new StatsFileError(
        'ERR_VIRQ_SNAPSHOT_OWNER',
        `${path} is owned by uid ${st.uid}, not ${uid()}: not read (--any-user reads it)`,
      );
    }
    if (st.size > MAX_SNAPSHOT_BYTES) {
      throw new StatsFileError('ERR_VIRQ_SNAPSHOT_INVALID', `${path} is ${st.size} bytes: not a snapshot`);
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    text = buf.toString('utf8', 0, off);
  } finally {
    closeSync(fd);
  }
  return parseSnapshot(text, path);
}

const MODES = new Set(['interrupt', 'poll', 'hybrid']);
const WORKER_STATES = new Set(['starting', 'running', 'sleeping', 'stopped', 'dead', 'restarting']);
const VECTOR_NUMBERS = ['vector', 'worker', 'pending', 'raised', 'handled', 'delivered', 'coalesced'];
const WORKER_NUMBERS = ['id', 'owned', 'events', 'wakeups', 'polls', 'restarts'];
const TOTALS = [
  'raised',
  'delivered',
  'coalesced',
  'pending',
  'dropped',
  'handled',
  'handlerErrors',
  'deferredRuns',
  'deferredErrors',
];

/**
 * Parses and validates a snapshot document: every field top shows must be there with the right
 * type (finite numbers, known mode and state names — nothing that could carry terminal escapes).
 */
export function parseSnapshot(text: string, path = 'snapshot'): StatsSnapshot {
  const bad = (why: string) =>
    new StatsFileError('ERR_VIRQ_SNAPSHOT_INVALID', `${path} is not a valid virq stats snapshot: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const obj = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  const num = (o: Record<string, unknown>, k: string, where: string) => {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) throw bad(`${where}.${k} is not a finite number`);
  };
  if (!obj(doc)) throw bad('not an object');
  for (const k of ['pid', 'time', 'index']) num(doc, k, 'snapshot');
  if (doc.started !== undefined) num(doc, 'started', 'snapshot');
  if (!Number.isInteger(doc.pid) || (doc.pid as number) <= 0) throw bad('pid is not a process id');
  if (typeof doc.running !== 'boolean') throw bad('running is not a boolean');
  if (typeof doc.mode !== 'string' || !MODES.has(doc.mode)) throw bad('unknown mode');
  if (!obj(doc.totals)) throw bad('no totals');
  for (const k of TOTALS) num(doc.totals, k, 'totals');
  if (!Array.isArray(doc.vectors) || !Array.isArray(doc.workers)) throw bad('no vectors or workers');
  doc.vectors.forEach((v: unknown, i: number) => {
    if (!obj(v)) throw bad(`vectors[${i}] is not an object`);
    for (const k of VECTOR_NUMBERS) num(v, k, `vectors[${i}]`);
    if (typeof v.mode !== 'string' || !MODES.has(v.mode)) throw bad(`vectors[${i}].mode is unknown`);
    if (typeof v.masked !== 'boolean') throw bad(`vectors[${i}].masked is not a boolean`);
  });
  doc.workers.forEach((w: unknown, i: number) => {
    if (!obj(w)) throw bad(`workers[${i}] is not an object`);
    for (const k of WORKER_NUMBERS) num(w, k, `workers[${i}]`);
    if (typeof w.state !== 'string' || !WORKER_STATES.has(w.state))
      throw bad(`workers[${i}].state is unknown`);
  });
  return doc as unknown as StatsSnapshot;
}
