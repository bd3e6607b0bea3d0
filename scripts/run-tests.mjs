#!/usr/bin/env node
// Runs every workspace project's ava suite (packages/*, then test/, then scripts/ — the runner's own
// tests) with TAP output, streams it, and ends with the one line CI reads: `tests: N passed, M failed`.
// ava's own summary is not that line, so the counting happens here, from the TAP stream.
//
// What must never read as green, and what ava 6.4 itself does about it (checked, see
// scripts/test/run-tests.test.mjs):
//   - a failing test, a crash, a file with no tests ("No tests found": ava exits 1);
//   - a test without assertions (ava's failWithoutAssertions, on by default: "not ok");
//   - a project in which no test passed (an all-skipped project beside a passing one);
//   - under CI (CI set, as .ci/run does): a skipped test (`ok … # SKIP`, ava exits 0) and a todo
//     (ava prints `not ok … # TODO` and exits 0) — each counts as a failure;
//   - under CI: a focused test. ava 6.4 runs only the `.only` tests and silently drops their siblings,
//     exit 0, CI or not. Here ava runs with `--match '*'` (with a title pattern ava selects every
//     matching test and ignores `.only`), so a focused test can never hide a failing sibling, and a
//     `.only(` in a compiled test file fails the run by itself. biome's noFocusedTests / noSkippedTests
//     catch both in the sources at lint time.
// Outside CI, skips and `.only` are allowed (a developer focusing a test), and reported.
//
// Usage: node scripts/run-tests.mjs [project-dir ...]   (default: every project that has ava tests)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const avaCli = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const ci = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

function projectsWithTests() {
  const dirs = readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d));
  dirs.push(join(root, 'test'), join(root, 'scripts'));
  return dirs.filter((dir) => avaConfig(dir) !== undefined);
}

function avaConfig(dir) {
  const pkgPath = join(dir, 'package.json');
  if (!existsSync(pkgPath)) return undefined;
  return JSON.parse(readFileSync(pkgPath, 'utf8')).ava;
}

/** The directories ava loads test code from: the compiled ones (rewritePaths) or the globs' roots. */
function testDirs(dir) {
  const conf = avaConfig(dir) ?? {};
  const rewrites = Object.values(conf.typescript?.rewritePaths ?? {});
  const roots =
    rewrites.length > 0 ? rewrites : (conf.files ?? ['test']).map((g) => g.split(/[*{]/)[0] || '.');
  return [...new Set(roots)].map((r) => join(dir, r)).filter((d) => existsSync(d));
}

// test.only, test.serial.only, test.failing.only, test.serial.failing.only (and it/ava aliases).
const FOCUSED = /\b(?:test|it|ava)(?:\.(?:serial|failing))*\.only\s*\(/;

/** Files (relative to `dir`) whose compiled test code calls `.only(`. */
function focusedFiles(dir) {
  const found = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      if (name === 'node_modules' || name === 'fixtures') continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(?:c|m)?js$/.test(name) && FOCUSED.test(readFileSync(p, 'utf8')))
        found.push(relative(dir, p));
    }
  };
  for (const d of testDirs(dir)) walk(d);
  return [...new Set(found)];
}

function runAva(dir) {
  return new Promise((resolve) => {
    const args = [avaCli, '--tap'];
    if (ci) args.push('--match', '*');
    const child = spawn(process.execPath, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const r = { passed: 0, failed: 0, skipped: 0, todo: 0, code: 0, problems: [] };
    let buffered = '';
    const count = (line) => {
      // TAP: "ok 3 - title", "not ok 4 - title", "ok 5 - title # SKIP", "not ok 6 - title # TODO".
      const m = /^(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$/i.exec(line);
      if (!m) return;
      const directive = m[3]?.toUpperCase();
      if (directive === 'SKIP') r.skipped++;
      else if (directive === 'TODO') r.todo++;
      else if (m[1]) r.failed++;
      else r.passed++;
      if (directive && ci) r.problems.push(`${directive.toLowerCase()} under CI: ${m[2]}`);
    };
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(count);
    });
    child.on('close', (code) => {
      count(buffered);
      r.code = code;
      // A non-zero exit with no failing test line (a crash, an uncaught error, no test files)
      // still counts as a failure: it must never read as green.
      // (ava's TAP reporter prints nothing for a timeout that fires before any test has started —
      // a worker still loading on a loaded machine — so say where to look.)
      if (code !== 0 && r.failed === 0)
        r.problems.push(
          `ava exited with ${code}${r.passed === 0 ? ' (no test line: a crash before any test, or an ava timeout while loading; rerun the project without --tap to see it)' : ''}`,
        );
      resolve(r);
    });
  });
}

const requested = process.argv.slice(2).map((d) => join(process.cwd(), d));
const projects = requested.length > 0 ? requested : projectsWithTests();
let passed = 0;
let failed = 0;
for (const dir of projects) {
  const name = relative(root, dir) || '.';
  process.stdout.write(`\n# ── ${name} ──\n`);
  const r = await runAva(dir);
  const focused = focusedFiles(dir);
  if (ci) for (const f of focused) r.problems.push(`focused test (.only) under CI in ${f}`);
  else if (focused.length > 0) process.stdout.write(`# note: .only in ${focused.join(', ')}\n`);
  if (r.passed === 0) r.problems.push('no test passed');
  for (const p of r.problems) process.stdout.write(`# ${name}: FAIL: ${p}\n`);
  // Every problem that is not already a failing test line counts as one failure.
  const projectFailed = r.failed + r.problems.length;
  const extra = [r.skipped && `${r.skipped} skipped`, r.todo && `${r.todo} todo`].filter(Boolean).join(', ');
  process.stdout.write(
    `# ${name}: ${r.passed} passed, ${projectFailed} failed${extra ? `, ${extra}` : ''} (exit ${r.code})\n`,
  );
  passed += r.passed;
  failed += projectFailed;
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
