import { writeFileSync } from 'node:fs';
import { parseFlags } from './args.js';
import { UsageError } from './errors.js';
import { nanos, si, table } from './format.js';
import { ProgressBar } from './progress.js';
import { renderHtmlReport } from './report-html.js';
import { parseChoice, parseDuration, parseIntInRange } from './units.js';

/** `virq bench --help`. */
export const BENCH_HELP = `Usage: virq bench [--vectors 256] [--workers 2] [--mode hybrid] [--duration 10s]
                  [--json out.json] [--html report.html] [--stats-file PATH]

Runs the throughput harness on the built-in software device (a SoftDevice with MSI-X): @virq/dispatch
in a closed loop (each vector re-raised when handled) and an open loop (a raise storm), beside two
baselines measured in the same run — one piscina task per event, and one kernel eventfd + epoll wake
per event — and prints handled/s, raises absorbed/s, coalesced %, latency percentiles, CPU per event
and the ratios.

Options:
  --vectors N        MSI-X vectors, 1..2048 (default 256)
  --workers N        service workers, and piscina threads for the baseline, 1..64 (default 2)
  --mode MODE        interrupt | poll | hybrid (default hybrid)
  --duration DUR     total measuring time, e.g. 10s, 500ms, 1m (default 10s)
  --json FILE        also write the full result as JSON
  --html FILE        also write a self-contained HTML report with plots (adds a vector-count sweep)
  --stats-file PATH  publish live stats for 'virq top' while the dispatcher phases run
  -h, --help         show this help`;

const MODES = ['interrupt', 'poll', 'hybrid'] as const;

/** `virq bench`: returns the process exit code. */
export async function runBench(argv: string[]): Promise<number> {
  const values = parseFlags('bench', argv, {
    vectors: { type: 'string' },
    workers: { type: 'string' },
    mode: { type: 'string' },
    duration: { type: 'string' },
    json: { type: 'string' },
    html: { type: 'string' },
    'stats-file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  const str = (k: string) => values[k] as string | undefined;
  const vectors = str('vectors') !== undefined ? parseIntInRange(str('vectors')!, '--vectors', 1, 2048) : 256;
  const threads = str('workers') !== undefined ? parseIntInRange(str('workers')!, '--workers', 1, 64) : 2;
  const mode = str('mode') !== undefined ? parseChoice(str('mode')!, '--mode', MODES) : 'hybrid';
  const durationMs = str('duration') !== undefined ? parseDuration(str('duration')!, '--duration') : 10_000;
  if (durationMs < 200)
    throw new UsageError(`--duration: at least 200ms is needed for four phases, got ${str('duration')}`);
  for (const flag of ['json', 'html', 'stats-file']) {
    if (str(flag) === '') throw new UsageError(`--${flag}: expected a file path`);
  }
  const html = str('html');
  // The sweep feeds the HTML report's "throughput against vector count" plot.
  const sweep = html ? [1, 4, 16, 64, 256, 1024].filter((n) => n <= Math.max(vectors, 256)) : [];

  const { runThroughputBench } = await import('./bench/throughput.js');
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
  const r = result.ratios;
  process.stdout.write(
    `${table(
      ['ratio (same run)', 'value'],
      [
        ['closed loop ÷ piscina task per event (target ≥ 100×)', `${r.closedVsPiscina.toFixed(1)}×`],
        ['closed loop ÷ eventfd + epoll wake per event', `${r.closedVsEpoll.toFixed(1)}×`],
        ['open loop raises absorbed ÷ piscina', `${r.openAbsorbedVsPiscina.toFixed(1)}×`],
        ['open loop handled ÷ piscina', `${r.openHandledVsPiscina.toFixed(1)}×`],
        ['CPU per event: piscina ÷ closed loop', `${r.cpuPiscinaOverClosed.toFixed(1)}×`],
      ],
    )}\n`,
  );
  for (const p of phases) process.stdout.write(`  ${p.name}: ${p.threads}\n`);
  process.stdout.write(
    `\ntarget (closed loop ≥ 100× piscina): ${result.targetMet ? 'met' : 'NOT met'} — ${r.closedVsPiscina.toFixed(1)}×\n`,
  );
  const json = str('json');
  if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  if (html) writeFileSync(html, renderHtmlReport(result, `virq bench ${argv.join(' ')}`.trim()));
  return 0;
}
