#!/usr/bin/env node
// Runs every workspace project's ava suite (packages/*, then test/) with TAP output, streams it, and
// ends with the one line CI reads: `tests: N passed, M failed`. ava's own summary is not that line,
// so the counting happens here, from the TAP stream.
//
// Usage: node scripts/run-tests.mjs [project-dir ...]   (default: every project that has ava tests)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const avaCli = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

function projectsWithTests() {
  const dirs = readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d));
  dirs.push(join(root, 'test'));
  return dirs.filter((dir) => {
    const pkgPath = join(dir, 'package.json');
    if (!existsSync(pkgPath)) return false;
    return Boolean(JSON.parse(readFileSync(pkgPath, 'utf8')).ava);
  });
}

function runAva(dir) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [avaCli, '--tap'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let passed = 0;
    let failed = 0;
    let buffered = '';
    const count = (line) => {
      // TAP: "ok 3 - title", "not ok 4 - title", "ok 5 - title # SKIP" (skips are not passes).
      if (/^not ok \d+/.test(line)) failed++;
      else if (/^ok \d+/.test(line) && !/# (SKIP|TODO)\b/i.test(line)) passed++;
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
      // A non-zero exit with no failing test line (a crash, an uncaught error, no test files)
      // still counts as a failure: it must never read as green.
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ passed, failed, code });
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
  const result = await runAva(dir);
  process.stdout.write(`# ${name}: ${result.passed} passed, ${result.failed} failed (exit ${result.code})\n`);
  passed += result.passed;
  failed += result.failed;
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
