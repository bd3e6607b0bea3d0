#!/usr/bin/env node
// Mutation run (StrykerJS, command runner over ava) over one hot file at a time, NOT part of CI.
//
//   pnpm run mutate <target> [--fresh] [--nice N] [--tests a,b] [--fn f,g] [--timeout-ms N]
//                                          e.g. pnpm run mutate msi
//   pnpm run mutate --list                 the targets, their file and the tests that cover it
//   pnpm run mutate <target> --dry         count the mutants and check the test command, test none
//
// --fn f,g: mutate only these functions/methods of the file (by name, see mutateSpec).
// --nice N: the niceness of the run (default 19). --tests a,b: run these test files (names under the
// package's test/, without .test.ts) instead of the target's list. A listed test file that does not
// exist in this tree is left out with a note, so one config serves older trees too (docs/mutation.md
// compares a tree from before a test file existed with today's).
// --timeout-ms N: the fixed part of a mutant's timeout (default 30000; Stryker adds twice the unmutated
// run's time). A mutant that hangs a test (a vector never unmasked, a wait that never ends) costs the
// whole timeout: in dispatch's poll-mode tests most do, so a lower one is what makes servicer
// affordable on a loaded machine (docs/mutation.md).
//
// It mutates the compiled JavaScript (dist/src/<file>.js, what the tests load: the packages import
// each other through dist) in place, so run `pnpm run build` first; Stryker restores every file it
// touched when it ends. Each mutant runs only the test files that cover the target (with ava's
// --fail-fast, so a killed mutant stops at its first failing test), one at a time (concurrency 1:
// the machines have 2 cores), under `nice -n 19`. Incremental: results are kept in
// reports/mutation/<target>.incremental.json and a rerun tests only mutants whose code or tests
// changed (`--fresh` starts over). Reports: reports/mutation/<target>.{html,json}.
// Surviving mutants are killed by a test or argued equivalent in docs/decisions.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** target → the package, the compiled file to mutate and the test files (in that package) that cover it. */
const targets = {
  servicer: {
    pkg: 'packages/dispatch',
    file: 'dist/src/servicer.js',
    tests: ['hybrid', 'storm', 'mask', 'rebalance', 'crash', 'deferred', 'intx', 'native'],
  },
  // The same file with a fast subset of its tests (~15 s a mutant instead of ~45 s on a loaded
  // 2-core machine): the NAPI budget and mode switches, storms, rebalance, the driver hooks.
  'servicer-focused': {
    pkg: 'packages/dispatch',
    file: 'dist/src/servicer.js',
    tests: ['hybrid', 'storm', 'rebalance', 'napi-hooks', 'poll-cycle'],
  },
  'vector-table': {
    pkg: 'packages/core',
    file: 'dist/src/vector-table.js',
    tests: ['vector-table', 'take-held', 'model', 'fallback', 'conformance-shared'],
  },
  'trigger-slot': {
    pkg: 'packages/core',
    file: 'dist/src/trigger-slot.js',
    tests: ['vector-table', 'raise-many', 'take-held', 'model', 'conformance-shared'],
  },
  'eventfd-pool': {
    pkg: 'packages/trigger',
    file: 'dist/src/eventfd-pool.js',
    tests: ['shared-eventfd', 'eventfd-pool'],
  },
  'set-irqs': {
    pkg: 'packages/core',
    file: 'dist/src/set-irqs.js',
    tests: ['model', 'conformance-shared', 'uapi', 'arg-errors', 'set-irqs-data'],
  },
  intx: {
    pkg: 'packages/core',
    file: 'dist/src/intx.js',
    tests: ['model', 'conformance-shared'],
  },
  msi: {
    pkg: 'packages/core',
    file: 'dist/src/msi.js',
    tests: ['model', 'conformance-shared', 'take-held'],
  },
  doorbell: { pkg: 'packages/atomics-sync', file: 'dist/src/doorbell.js', tests: ['doorbell'] },
  'ring-base': {
    pkg: 'packages/atomics-sync',
    file: 'dist/src/ring-base.js',
    tests: ['ring', 'ring.property', 'validate'],
  },
  'spsc-ring': {
    pkg: 'packages/atomics-sync',
    file: 'dist/src/spsc-ring.js',
    tests: ['ring', 'ring.property'],
  },
  'mpsc-ring': {
    pkg: 'packages/atomics-sync',
    file: 'dist/src/mpsc-ring.js',
    tests: ['ring', 'ring.property'],
  },
};

const args = process.argv.slice(2);
if (args.includes('--list') || args.length === 0) {
  for (const [name, t] of Object.entries(targets)) {
    process.stdout.write(`${name.padEnd(17)} ${t.pkg}/${t.file}  tests: ${t.tests.join(', ')}\n`);
  }
  process.exit(args.length === 0 ? 2 : 0);
}
const name = args.find(
  (a, i) => !a.startsWith('--') && !['--nice', '--tests', '--fn', '--timeout-ms'].includes(args[i - 1]),
);
const target = targets[name];
if (!target) {
  process.stderr.write(`mutate: unknown target '${name}' (pnpm run mutate --list)\n`);
  process.exit(2);
}

const out = join('reports', 'mutation');
mkdirSync(join(root, out), { recursive: true });
const ava = join('..', '..', 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const opt = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const wanted = opt('--tests')?.split(',') ?? target.tests;
const present = wanted.filter((t) => existsSync(join(root, target.pkg, 'test', `${t}.test.ts`)));
const missing = wanted.filter((t) => !present.includes(t));
if (missing.length) process.stderr.write(`mutate: not in this tree, left out: ${missing.join(', ')}\n`);
if (!present.length) {
  process.stderr.write('mutate: no test file to run\n');
  process.exit(2);
}
const testFiles = present.map((t) => `test/${t}.test.ts`).join(' ');
const niceness = opt('--nice') ?? '19';

/**
 * What Stryker mutates: the whole compiled file, or with --fn a,b only those functions/methods (their
 * line spans in the compiled file, found by name, so the same --fn works on an older tree whose lines
 * differ): the hot path of a large file when the whole file would take hours on a shared machine.
 */
function mutateSpec() {
  const file = join(target.pkg, target.file);
  const fns = opt('--fn')?.split(',');
  if (!fns) return [file];
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const spans = [];
  for (const fn of fns) {
    const head = new RegExp(`^(\\s*)(?:export\\s+)?(?:async\\s+)?(?:function\\s+)?${fn}\\(.*\\{$`);
    const start = lines.findIndex((l) => head.test(l));
    if (start < 0) {
      // an older tree may not have it yet (the comparison then covers the functions both have)
      process.stderr.write(`mutate: no function '${fn}' in ${file} in this tree, left out\n`);
      continue;
    }
    const indent = head.exec(lines[start])[1];
    const end = lines.findIndex((l, i) => i > start && l === `${indent}}`);
    spans.push(`${file}:${start + 1}-${end + 1}`);
  }
  if (!spans.length) process.exit(2);
  return spans;
}
const config = {
  $schema: '../../node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  packageManager: 'pnpm',
  testRunner: 'command',
  commandRunner: { command: `cd ${target.pkg} && node ${ava} --fail-fast ${testFiles}` },
  mutate: mutateSpec(),
  inPlace: true,
  concurrency: 1,
  incremental: !args.includes('--fresh'),
  incrementalFile: join(out, `${name}.incremental.json`),
  // A mutant that makes a test hang (a wait that never ends) is a kill by timeout: give a loaded
  // machine room before calling it that.
  timeoutFactor: 2,
  timeoutMS: Number(opt('--timeout-ms') ?? 30_000),
  // Static mutants (module-level constants: layout offsets, magic numbers) would each need the
  // module reloaded; the tests of each layout cover them, and they cost as much as all the rest.
  ignoreStatic: true,
  disableTypeChecks: false,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: join(out, `${name}.html`) },
  jsonReporter: { fileName: join(out, `${name}.json`) },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: join(out, `.tmp-${name}`),
  cleanTempDir: 'always',
};
const configFile = join(out, `${name}.stryker.json`);
writeFileSync(join(root, configFile), `${JSON.stringify(config, null, 2)}\n`);
const stryker = join('node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
// --dry: instrument and run the tests once unmutated (how many mutants, does the command pass), no more
const extra = args.includes('--dry') ? ['--dryRunOnly'] : [];
const child = spawn('nice', ['-n', niceness, process.execPath, stryker, 'run', configFile, ...extra], {
  cwd: root,
  stdio: 'inherit',
});
child.on('close', (code) => {
  process.exitCode = code ?? 1;
});
