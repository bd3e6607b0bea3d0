import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommand } from './args.js';
import { UsageError } from './errors.js';
import { nanos, si, table } from './format.js';
import { ProgressBar } from './progress.js';
import { renderHtmlReport } from './report-html.js';
import { parseChoice, parseDuration, parseIntInRange } from './units.js';

/** `virq bench --help`. */
export const BENCH_HELP = `Usage: virq bench [--vectors 256] [--workers 2] [--mode hybrid] [--duration 10s]
                  [--runs 1] [--json out.json] [--html report.html] [--stats-file PATH]

Runs the throughput harness on the built-in software device (a SoftDevice with MSI-X): @virq/dispatch
in a closed loop (each vector re-raised when handled) and an open loop (a raiseMany storm), beside two
baselines measured in the same run — one piscina task per event, and one kernel eventfd + epoll wake
per event; then one vector's raise → handler latency (busy and sleeping, beside a raw spin hand-off
and a raw Atomics.wait/notify wake), the dispatcher over kernel eventfds beside a C epoll drain
(gcc), and CPU per event at 2048 vectors beside 16. Prints each phase and each figure with its target.
With --runs N, runs the bench N times, each in a fresh process, and prints per figure the median
and the spread (min – max), with the machine and the load average at start and end. Every
dispatcher phase's accounting (raised = delivered + coalesced + pending + dropped = the raises the
bench's threads counted) is checked: the report says it is exact, or names the phase, and exits 1.

Options:
  --vectors N        MSI-X vectors, 1..2048 (default 256)
  --workers N        service workers, and piscina threads for the baseline, 1..64 (default 2)
  --mode MODE        interrupt | poll | hybrid (default hybrid)
  --duration DUR     total measuring time, e.g. 10s, 500ms, 1m (default 10s)
  --runs N           run N times in fresh processes and report medians and spreads, 1..50
  --json FILE        also write the full result as JSON
  --html FILE        also write a self-contained HTML report with plots (adds a vector-count sweep)
  --stats-file PATH  publish live stats for 'virq top' while the dispatcher phases run
  -h, --help         show this help`;

const MODES = ['interrupt', 'poll', 'hybrid'] as const;

/** The flags that take a value (--help is the only other). */
const BENCH_FLAGS = 'vectors workers mode duration runs json html stats-file';

/** `virq bench`: returns the process exit code. */
export async function runBench(argv: string[]): Promise<number> {
  const values = parseCommand('bench', argv, BENCH_HELP, BENCH_FLAGS);
  if (values === null) return 0;
  const str = (k: string) => values[k] as string | undefined;
  const vectors = str('vectors') !== undefined ? parseIntInRange(str('vectors')!, '--vectors', 1, 2048) : 256;
  const threads = str('workers') !== undefined ? parseIntInRange(str('workers')!, '--workers', 1, 64) : 2;
  const mode = str('mode') !== undefined ? parseChoice(str('mode')!, '--mode', MODES) : 'hybrid';
  const durationMs = str('duration') !== undefined ? parseDuration(str('duration')!, '--duration') : 10_000;
  if (durationMs < 200)
    throw new UsageError(`--duration: at least 200ms is needed for the phases, got ${str('duration')}`);
  for (const flag of ['json', 'html', 'stats-file']) {
    if (str(flag) === '') throw new UsageError(`--${flag}: expected a file path`);
  }
  const runs = str('runs') !== undefined ? parseIntInRange(str('runs')!, '--runs', 1, 50) : 1;
  const html = str('html');
  if (runs > 1) {
    if (html !== undefined || str('stats-file') !== undefined) {
      throw new UsageError('--runs: --html and --stats-file are for a single run');
    }
    return runSeries(argv, runs, str('json'));
  }
  // The sweep feeds the HTML report's "throughput against vector count" plot.
  const sweep = html ? [1, 4, 16, 64, 256, 1024].filter((n) => n <= Math.max(vectors, 256)) : [];

  const { accountingLine, figureRows, runThroughputBench } = await import('@virq/bench-harness');
  const bar = new ProgressBar();
  process.stderr.write(
    `virq bench: ${vectors} MSI-X vectors, ${threads} workers, mode ${mode}, ${(durationMs / 1000).toFixed(1)} s` +
      `${sweep.length ? ` + a ${sweep.length}-point sweep` : ''} (Node ${process.version})\n`,
  );
  const result = await runThroughputBench({
    durationMs,
    vectors,
    threads,
    mode,
    sweep,
    sweepMsPerPoint: Math.max(200, Math.min(1000, durationMs / 10)),
    statsFile: str('stats-file'),
    progress: (f, phase) => bar.update(f, phase),
    log: process.stderr.isTTY ? undefined : (line) => process.stderr.write(`  ${line}\n`),
  });
  bar.done();

  const phases = Object.values(result.phases);
  process.stdout.write(
    `\n${table(
      ['phase', 'handled/s', 'absorbed/s', 'coalesced', 'p50', 'p99', 'p99.9', 'CPU/event'],
      phases.map((p) => [
        p.name,
        si(p.handledPerSec),
        si(p.raisesPerSec),
        `${p.coalescedPct.toFixed(1)}%`,
        `${p.latencyUs.p50.toFixed(1)} µs`,
        `${p.latencyUs.p99.toFixed(1)} µs`,
        `${p.latencyUs.p999.toFixed(1)} µs`,
        nanos(p.cpuNsPerHandled),
      ]),
    )}\n\n`,
  );
  process.stdout.write(
    `${table(['figure (a ratio within this run, or as the issue states it)', 'value', 'target', ''], figureRows(result))}\n`,
  );
  for (const p of phases) process.stdout.write(`  ${p.name}: ${p.threads}\n`);
  const lat = result.latency;
  process.stdout.write(
    `  latency: raw spin hand-off p50 ${lat.busyRaw.p50.toFixed(1)} µs, raw wait/notify wake p50 ` +
      `${lat.sleepingRaw.p50.toFixed(1)} µs / p99 ${lat.sleepingRaw.p99.toFixed(1)} µs; dispatcher sleeping p50 ` +
      `${lat.sleeping.p50.toFixed(1)} µs / p99 ${lat.sleeping.p99.toFixed(1)} µs; ` +
      `${lat.pinned ? 'threads pinned to CPUs 0 and 1' : 'threads NOT pinned (taskset or a 2nd CPU missing)'}\n`,
  );
  const ev = result.eventfd;
  const uring = ev.uring
    ? 'skipped' in ev.uring
      ? `, C drain through io_uring skipped (${ev.uring.skipped})`
      : `, C drain through io_uring ${nanos(ev.uring.nsPerEvent)}/event`
    : '';
  process.stdout.write(
    ev.skipped
      ? `  kernel eventfds: C baseline skipped (${ev.skipped})\n`
      : `  kernel eventfds: service worker ${nanos(ev.dispatchNsPerEvent)}/event (counters read by ${ev.readPath ?? '?'}, raiser signalling by ${ev.signalPath ?? '?'}), C epoll drain ${nanos(ev.cNsPerEvent)}/event${uring}` +
          (ev.racing
            ? `, C drain racing the same raiser ${nanos(ev.racing.cNsPerEvent)}/event (${ev.racing.readsPerWait.toFixed(1)} reads per wait)\n`
            : '\n'),
  );
  const l = (x: number[]) => x.map((v) => v.toFixed(2)).join(' / ');
  process.stdout.write(`  load average: ${l(result.load.start)} at start, ${l(result.load.end)} at end\n`);
  const cap = result.cpuCapacity;
  if (cap?.start || cap?.end) {
    const one = (c: typeof cap.start) =>
      c
        ? `${c.delivered.toFixed(2)} (alone ${l(c.aloneMs)} ms, together ${l(c.togetherMs)} ms per pass)`
        : '?';
    process.stdout.write(
      `  CPUs' worth delivered with all ${result.machine.cpus} busy (a pinned C loop): ${one(cap.start)} at start, ${one(cap.end)} at end\n`,
    );
  }
  const acct = accountingLine([result]);
  process.stdout.write(`  ${acct.line}\n`);
  const json = str('json');
  if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  if (html) writeFileSync(html, renderHtmlReport(result, `virq bench ${argv.join(' ')}`.trim()));
  // Raises lost or counted twice are a bug, not a slow run: the figures above are not to be trusted.
  return acct.exact ? 0 : 1;
}

/**
 * `virq bench --runs N`: N runs of `virq bench` with the same options, each in a fresh process (a
 * JIT, heap and thread placement of its own), then the median and spread of every figure.
 */
async function runSeries(argv: string[], runs: number, json: string | undefined): Promise<number> {
  const { accountingLine, formatRunsReport, summarizeRuns } = await import('@virq/bench-harness');
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs' || argv[i] === '--json') i++;
    else if (!argv[i].startsWith('--runs=') && !argv[i].startsWith('--json=')) rest.push(argv[i]);
  }
  const dir = mkdtempSync(join(tmpdir(), 'virq-bench-runs-'));
  const loadStart = loadavg();
  const results = [];
  try {
    for (let i = 0; i < runs; i++) {
      const out = join(dir, `run-${i}.json`);
      const started = performance.now();
      process.stderr.write(`run ${i + 1}/${runs} … `);
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, 'bench', ...rest, '--json', out], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => {
          err += c;
        });
        child.once('close', (c) => resolve({ code: c, stderr: err }));
      });
      if (code !== 0) {
        process.stderr.write(`failed (exit ${code})\n${stderr}`);
        return 1;
      }
      results.push(JSON.parse(readFileSync(out, 'utf8')));
      process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadEnd = loadavg();
  const command = `virq bench ${argv.join(' ')}`.trim();
  process.stdout.write(`\n${formatRunsReport(results, { command, loadStart, loadEnd, table })}\n`);
  if (json) {
    const summary = summarizeRuns(results);
    writeFileSync(
      json,
      `${JSON.stringify({ command, loadStart, loadEnd, summary, runs: results }, null, 2)}\n`,
    );
  }
  return accountingLine(results).exact ? 0 : 1;
}
