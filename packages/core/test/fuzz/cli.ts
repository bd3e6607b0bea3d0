/**
 * `pnpm fuzz [--ops 1e6] [--seed N] [--json]`: the long fuzzer run (the CI test runs a short one).
 * Exits 0 with zero violations, 1 otherwise; a violation names its seed and operation so it replays.
 */
import { parseArgs } from 'node:util';
import { fuzz } from './engine.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    'max-violations': { type: 'string' },
  },
});
const ops = Number(values.ops ?? '1e5');
const seed = values.seed !== undefined ? Number(values.seed) : (Date.now() ^ (process.pid << 16)) >>> 0;
if (!Number.isSafeInteger(ops) || ops < 1 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: pnpm fuzz [--ops N (e.g. 1e6)] [--seed N] [--json]\n');
  process.exit(64);
}
const maxViolations = Number(values['max-violations'] ?? '20');
// process.stderr is created on first use, and on a pipe that opens an fd: made before the run, so the
// epochs' fd-leak check does not count it against the first epoch after a progress line.
const stderr = process.stderr;
const report = await fuzz({ ops, seed, maxViolations, log: (l) => stderr.write(`${l}\n`) });
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else {
  const rate = Math.round(report.ops / (report.durationMs / 1000));
  process.stdout.write(
    `fuzz: seed ${report.seed}, ${report.ops} ops in ${report.epochs} device epochs, ` +
      `${(report.durationMs / 1000).toFixed(1)} s (${rate} ops/s): ${report.violations.length} invariant violations\n`,
  );
  const top = Object.entries(report.outcomes).sort((a, b) => b[1] - a[1]);
  process.stdout.write(`outcomes: ${top.map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
  for (const v of report.violations)
    process.stdout.write(`  op ${v.op} [${v.invariant}] ${v.what}: ${v.detail}\n`);
}
process.exitCode = report.violations.length === 0 ? 0 : 1;
