import { parseCommand } from './args.js';
import { si, table } from './format.js';
import {
  findStatsFiles,
  processAlive,
  type ReadOptions,
  readSnapshot,
  type StatsSnapshot,
  statsDir,
} from './stats-source.js';
import { parseDuration, parseIntInRange } from './units.js';

/** `virq top --help`. */
export const TOP_HELP = `Usage: virq top [--file PATH] [--interval 1s] [--iterations N] [--rows N] [--all] [--any-user]

A live per-vector table of a running dispatcher, like /proc/interrupts crossed with top: raise rate
per vector and per worker, masked / pending / NAPI mode. It attaches through the stats snapshot a
Dispatcher writes when started with { statsFile } (virq's defaultStatsFile() is
${statsDir()}/virq-<pid>.json); with no --file it picks the newest such file. Only snapshots owned
by your own user are read, and one that does not parse is reported and skipped, never shown. Across a
counter reset (the dispatcher restarted under the same file) rates count from the reset.

Options:
  --file PATH       the snapshot to read
  --interval DUR    refresh period (default 1s)
  --iterations N    stop after N refreshes (default: until Ctrl-C)
  --rows N          busiest vectors to show (default 20)
  --all             show every vector
  --any-user        also read snapshots owned by other users
  -h, --help        show this help`;

const INDEX_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];

/**
 * A counter's growth between two snapshots. A counter that went down was restarted from zero (a new
 * dispatcher under the same file): its growth since then is its value.
 */
function grown(cur: number, prev: number): number {
  return cur >= prev ? cur - prev : cur;
}

/**
 * True if `cur` does not continue `prev`'s counters: another process or exporter wrote it, or a
 * total went down (a dispatcher restarted under the same stats file, or the bench's next phase).
 */
export function countersReset(prev: StatsSnapshot, cur: StatsSnapshot): boolean {
  if (cur.pid !== prev.pid || cur.started !== prev.started) return true;
  if (cur.vectors.length !== prev.vectors.length) return true;
  const t = cur.totals;
  const p = prev.totals;
  return (
    t.raised < p.raised || t.handled < p.handled || t.delivered < p.delivered || t.coalesced < p.coalesced
  );
}

/** The all-zero snapshot a reset starts from, at the time the new counters started. */
function zeroAt(cur: StatsSnapshot, prev: StatsSnapshot): StatsSnapshot {
  const zero = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? 0 : v])) as T;
  // the writer's start time, when it is known and inside the interval; else the previous refresh
  const time =
    cur.started !== undefined && cur.started > prev.time && cur.started < cur.time ? cur.started : prev.time;
  return {
    ...cur,
    time,
    totals: zero(cur.totals),
    vectors: cur.vectors.map((v) => ({ ...zero(v), vector: v.vector, worker: v.worker })),
    workers: cur.workers.map((w) => ({ ...zero(w), id: w.id })),
  };
}

/** Renders one refresh: per-worker and per-vector rates between two snapshots of one dispatcher. */
export function renderTop(prevSnap: StatsSnapshot, cur: StatsSnapshot, rows: number, file: string): string {
  const reset = countersReset(prevSnap, cur);
  const prev = reset ? zeroAt(cur, prevSnap) : prevSnap;
  const dt = Math.max(1e-3, (cur.time - prev.time) / 1000);
  const before = new Map(prev.vectors.map((v) => [v.vector, v]));
  const vecRows = cur.vectors.map((v) => {
    const p = before.get(v.vector);
    return {
      v,
      rate: p ? grown(v.raised, p.raised) / dt : 0,
      handledRate: p ? grown(v.handled, p.handled) / dt : 0,
    };
  });
  vecRows.sort((a, b) => b.rate - a.rate || a.v.vector - b.v.vector);
  const shown = vecRows.slice(0, rows);
  const t = cur.totals;
  const pt = prev.totals;
  const rate = (k: keyof typeof t) => si(grown(t[k], pt[k]) / dt);
  const alive = processAlive(cur.pid) ? (cur.running ? 'running' : 'stopped') : 'process gone';
  const head = [
    `virq top — pid ${cur.pid} (${alive}), ${INDEX_NAMES[cur.index] ?? `index ${cur.index}`}, ${cur.vectors.length} vectors, ${cur.workers.length} workers, mode ${cur.mode}  [${file}]`,
    ...(reset ? ['counters reset (dispatcher restarted): rates since the reset'] : []),
    `raised ${rate('raised')}/s  handled ${rate('handled')}/s  ` +
      `coalesced ${rate('coalesced')}/s  pending ${t.pending}  dropped ${t.dropped}  ` +
      `deferred ${rate('deferredRuns')}/s  errors ${t.handlerErrors + t.deferredErrors}`,
    `accounting: raised ${t.raised} = delivered ${t.delivered} + coalesced ${t.coalesced} + pending ${t.pending} + dropped ${t.dropped}`,
  ].join('\n');
  const pw = new Map(prev.workers.map((w) => [w.id, w]));
  const workerTable = table(
    ['worker', 'state', 'owned', 'events/s', 'wakeups/s', 'polls/s', 'restarts'],
    cur.workers.map((w) => {
      const p = pw.get(w.id);
      const d = (k: 'events' | 'wakeups' | 'polls') => si(p ? grown(w[k], p[k]) / dt : 0);
      return [
        String(w.id),
        w.state,
        String(w.owned),
        d('events'),
        d('wakeups'),
        d('polls'),
        String(w.restarts),
      ];
    }),
  );
  const vectorTable = table(
    [
      'vector',
      'worker',
      'mode',
      'masked',
      'pending',
      'raised/s',
      'handled/s',
      'raised',
      'delivered',
      'coalesced',
    ],
    shown.map(({ v, rate, handledRate }) => [
      String(v.vector),
      String(v.worker),
      v.mode,
      v.masked ? 'yes' : '',
      String(v.pending),
      si(rate),
      si(handledRate),
      String(v.raised),
      String(v.delivered),
      String(v.coalesced),
    ]),
  );
  const more =
    vecRows.length > shown.length ? `\n… ${vecRows.length - shown.length} more vectors (--all)` : '';
  return `${head}\n\n${workerTable}\n\n${vectorTable}${more}\n`;
}

/** `virq top`: returns the process exit code. */
export async function runTop(argv: string[]): Promise<number> {
  const values = parseCommand('top', argv, TOP_HELP, 'file interval iterations rows', 'all any-user');
  if (values === null) return 0;
  const intervalMs = values.interval ? parseDuration(values.interval as string, '--interval') : 1000;
  const iterations = values.iterations
    ? parseIntInRange(values.iterations as string, '--iterations', 1, 1e9)
    : Infinity;
  const rows = values.all
    ? Infinity
    : values.rows
      ? parseIntInRange(values.rows as string, '--rows', 1, 1e6)
      : 20;
  const readOptions: ReadOptions = { anyUser: values['any-user'] === true };
  let file = values.file as string | undefined;
  if (file === undefined) {
    const found = findStatsFiles(statsDir(), readOptions).filter((f) =>
      processAlive(readSnapshotOrNull(f, readOptions)?.pid ?? -1),
    );
    if (found.length === 0) {
      process.stderr.write(
        `virq top: no running dispatcher publishes stats in ${statsDir()} (start one with { statsFile: defaultStatsFile() }, or pass --file)\n`,
      );
      return 1;
    }
    file = found[0];
  }
  let prev: StatsSnapshot;
  try {
    prev = readSnapshot(file, readOptions);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`virq top: cannot read ${file}: ${err.code ?? ''} ${err.message}\n`);
    return 1;
  }
  const tty = process.stdout.isTTY;
  let stop = false;
  const onSigint = () => {
    stop = true;
  };
  process.once('SIGINT', onSigint);
  try {
    for (let i = 0; i < iterations && !stop; i++) {
      await new Promise((r) => setTimeout(r, intervalMs));
      let cur: StatsSnapshot;
      try {
        cur = readSnapshot(file, readOptions);
        // The writer's period may be longer than ours: rates need a newer snapshot than the last.
        for (let tries = 0; cur.time <= prev.time && cur.started === prev.started && tries < 50; tries++) {
          await new Promise((r) => setTimeout(r, Math.max(20, intervalMs / 10)));
          cur = readSnapshot(file, readOptions);
        }
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ENOENT') {
          // a process that restarts its dispatcher (the bench between phases) removes the file
          // until the next one starts: wait for it while the writer lives
          if (processAlive(prev.pid)) {
            process.stdout.write(`virq top: ${file} is gone, pid ${prev.pid} still runs: waiting\n`);
            continue;
          }
          process.stdout.write(`virq top: ${file} is gone: the dispatcher stopped\n`);
          return 0;
        }
        // not ours any more, or not a snapshot: say so and show nothing from it
        process.stdout.write(`virq top: ${err.message} (skipped)\n`);
        continue;
      }
      const frame = renderTop(prev, cur, rows, file);
      process.stdout.write(tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
      prev = cur;
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  return 0;
}

/** Discovery: a snapshot that is gone is no candidate; one that does not parse is reported too. */
function readSnapshotOrNull(path: string, options: ReadOptions): StatsSnapshot | null {
  try {
    return readSnapshot(path, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      process.stderr.write(`virq top: ${(e as Error).message} (skipped)\n`);
    return null;
  }
}
