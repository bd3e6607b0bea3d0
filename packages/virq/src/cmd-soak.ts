import { writeFileSync } from 'node:fs';
import { parseCommand } from './args.js';
import { UsageError } from './errors.js';
import { si } from './format.js';
import { type Fault, type SoakReport, soak } from './soak/soak.js';
import { parseDuration, parseIntInRange } from './units.js';

/** `virq soak --help`. */
export const SOAK_HELP = `Usage: virq soak [--duration 10m] [--vectors 64] [--workers 2] [--segment 30s]
                 [--warmup-cycles 30] [--warmup DUR] [--crashes N] [--faults throw,exit,terminate]
                 [--seed N] [--json out.json]

A long run that must leave nothing behind: dispatchers on a SoftDevice in every mode in turn
(interrupt, poll, hybrid), each under a full-rate raise storm from another thread, with faults
injected at random moments (a handler that throws, a handler that calls process.exit, the worker
terminated from outside) and rebalances. Memory (RSS, heap, external), open fds and threads are
sampled every second. The verdict: memory growth after warm-up at most 5%, fds and threads back to
their idle level, zero raises lost (what the device accepted = what the handlers saw). Exit 0 on a
pass, 1 on a fail.

With --crashes N it is the crash storm instead: N faults back to back under the storm (a third of them
per mode), each planted once the last one is over, and the same zero-lost verdict.

Options:
  --duration DUR   total time (default 10m); ignored with --crashes
  --vectors N      MSI-X vectors, 1..2048 (default 64)
  --workers N      service workers, 1..64 (default 2)
  --segment DUR    one dispatcher / one mode lasts this long (default: a sixth of the run, 5s..30s)
  --warmup-cycles N  short dispatcher cycles first (1s each, faults and rebalances 5x as often), left
                   out of the memory verdict: V8 adds code and feedback for a path by how often it
                   ran, so paths that run once per dispatcher settle only after dozens of cycles
                   (default 30, at most half the run; 0: none)
  --warmup DUR     also left out of the memory verdict: the run's first DUR (default 0)
  --crashes N      crash storm: inject N faults, then stop
  --faults LIST    fault kinds to inject (default throw,exit,terminate)
  --seed N         PRNG seed (faults, targets, moments)
  --json FILE      also write the full report, every sample included
  -h, --help       show this help`;

const FAULTS: readonly Fault[] = ['throw', 'exit', 'terminate'];

/** The flags that take a value (--help is the only other). */
const SOAK_FLAGS = 'duration vectors workers segment warmup warmup-cycles crashes faults seed json';

/** `virq soak`: returns the process exit code. */
export async function runSoak(argv: string[]): Promise<number> {
  const values = parseCommand('soak', argv, SOAK_HELP, SOAK_FLAGS);
  if (values === null) return 0;
  const str = (k: string) => values[k] as string | undefined;
  const durationMs = str('duration') !== undefined ? parseDuration(str('duration')!, '--duration') : 600_000;
  if (durationMs < 3000)
    throw new UsageError(`--duration: at least 3s (one segment per mode), got ${str('duration')}`);
  const faults = str('faults')?.split(',') ?? [...FAULTS];
  for (const f of faults) {
    if (!FAULTS.includes(f as Fault))
      throw new UsageError(`--faults: expected some of ${FAULTS.join(', ')}, got '${f}'`);
  }
  if (str('json') === '') throw new UsageError('--json: expected a file path');
  const report = await soak({
    durationMs,
    vectors:
      str('vectors') !== undefined ? parseIntInRange(str('vectors')!, '--vectors', 1, 2048) : undefined,
    workers: str('workers') !== undefined ? parseIntInRange(str('workers')!, '--workers', 1, 64) : undefined,
    segmentMs: str('segment') !== undefined ? parseDuration(str('segment')!, '--segment') : undefined,
    warmupCycles:
      str('warmup-cycles') !== undefined
        ? parseIntInRange(str('warmup-cycles')!, '--warmup-cycles', 0, 1000)
        : undefined,
    warmupMs: str('warmup') !== undefined ? parseDuration(str('warmup')!, '--warmup') : undefined,
    crashes: str('crashes') !== undefined ? parseIntInRange(str('crashes')!, '--crashes', 1, 1e6) : undefined,
    faults: faults as Fault[],
    seed: str('seed') !== undefined ? parseIntInRange(str('seed')!, '--seed', 0, 2 ** 32 - 1) : undefined,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (str('json')) writeFileSync(str('json')!, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(renderSoak(report));
  return report.verdict.pass ? 0 : 1;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const pct = (p: number) => `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;

/** The human-readable summary. */
export function renderSoak(r: SoakReport): string {
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  const t = r.totals;
  const what = r.options.crashes !== undefined ? `crash storm of ${r.options.crashes} faults` : 'soak';
  const lines = [
    `virq ${what}: ${(r.ms / 1000).toFixed(0)} s, ${r.segments.length} segments (${[...new Set(r.segments.map((s) => s.mode))].join(', ')}), ` +
      `${r.options.vectors} vectors, ${r.options.workers} workers, seed ${r.options.seed}`,
    `raises accepted ${t.accepted} (${si(t.accepted / (r.ms / 1000))}/s), lost ${t.lost}, seen twice ${t.doubled} ` +
      `(≤ redelivered ${t.redelivered}); faults ${t.faults}, workers replaced ${t.restarts}`,
    `faults by kind: ${(['throw', 'exit', 'terminate'] as const)
      .map((k) => `${k} ${r.segments.reduce((a, s) => a + s.faults[k], 0)}`)
      .join(', ')}; rebalances ${r.segments.reduce((a, s) => a + s.rebalances, 0)}`,
    `memory at start: rss ${mib(first.rss)}, heap ${mib(first.heapUsed)}, external ${mib(first.external)}; ` +
      `at end: rss ${mib(last.rss)}, heap ${mib(last.heapUsed)}, external ${mib(last.external)}`,
    ...(r.growth.length > 0
      ? [
          `idle memory after a full GC (warm-up: ${r.segments.filter((s) => s.warmup).length} cycles, ` +
            `${(r.warmupEndMs / 1000).toFixed(0)} s; from the first idle sample, warm-up included, for comparison):`,
        ]
      : []),
    ...r.growth.map((g, i) => {
      const f = r.growthFromFirst[i];
      return (
        `  ${g.metric} after warm-up ${mib(g.afterWarmup)} → ${mib(g.end)} (${pct(g.pct)})` +
        (f !== undefined ? `; from the first ${mib(f.afterWarmup)} → ${mib(f.end)} (${pct(f.pct)})` : '')
      );
    }),
    `idle fds ${r.idle.fds[0]} → ${r.idle.fds[1]}, idle threads ${r.idle.threads[0]} → ${r.idle.threads[1]}`,
    r.verdict.pass
      ? 'verdict: PASS'
      : `verdict: FAIL\n${r.verdict.reasons.map((x) => `  - ${x}`).join('\n')}`,
  ];
  return `${lines.join('\n')}\n`;
}
