// The test runner's own tests: scripts/run-tests.mjs runs fixture projects as a real child process,
// with and without CI, and what must never read as green fails the run (exit 1, the project's FAIL
// line, the closing `tests: N passed, M failed` line counting it).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runNode } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, '..', 'run-tests.mjs');
const fixture = (name) => join('scripts', 'test', 'fixtures', name);
const root = join(here, '..', '..');

/** Runs the runner on fixture projects; resolves with its exit code and output. */
function run(projects, { ci }) {
  const env = { ...process.env };
  delete env.CI;
  delete env.AVA_FORCE_CI;
  if (ci) env.CI = 'true';
  else env.AVA_FORCE_CI = 'not-ci'; // ava reads other CI variables too (ci-info)
  return runNode([runner, ...projects.map(fixture)], { cwd: root, env });
}

const closing = (out) => /^tests: (\d+) passed, (\d+) failed$/m.exec(out)?.slice(1).map(Number);

test('a passing project passes, under CI and outside it', async (t) => {
  for (const ci of [true, false]) {
    const { code, out } = await run(['pass'], { ci });
    t.is(code, 0, out);
    t.deepEqual(closing(out), [1, 0]);
    t.notRegex(out, /FAIL/);
  }
});

test('under CI a skipped test fails the run; outside CI it is reported', async (t) => {
  const ci = await run(['skip'], { ci: true });
  t.is(ci.code, 1, ci.out);
  t.regex(ci.out, /FAIL: skip under CI: skipped/);
  t.deepEqual(closing(ci.out), [1, 1]);
  const dev = await run(['skip'], { ci: false });
  t.is(dev.code, 0, dev.out);
  t.regex(dev.out, /1 passed, 0 failed, 1 skipped/);
});

test('under CI a todo test fails the run (ava itself exits 0)', async (t) => {
  const { code, out } = await run(['todo'], { ci: true });
  t.is(code, 1, out);
  t.regex(out, /FAIL: todo under CI: written later/);
  t.regex(out, /\(exit 0\)/, 'ava said 0: the runner is what fails it');
});

test('an all-skipped project beside a passing one fails the run, CI or not', async (t) => {
  for (const ci of [true, false]) {
    const { code, out } = await run(['pass', 'all-skipped'], { ci });
    t.is(code, 1, out);
    t.regex(out, /all-skipped: FAIL: no test passed/);
    t.is(closing(out)[0], 1);
    t.true(closing(out)[1] >= 1);
  }
});

test('under CI a focused test fails the run and does not drop its failing sibling', async (t) => {
  const { code, out } = await run(['only-failing-sibling'], { ci: true });
  t.is(code, 1, out);
  t.regex(out, /^not ok \d+ - sibling$/m, 'the sibling ran (ava alone drops it and exits 0)');
  t.regex(out, /FAIL: focused test \(\.only\) under CI in a\.test\.mjs/);
});

test('under CI a focused test fails the run even when every test passes', async (t) => {
  const { code, out } = await run(['only'], { ci: true });
  t.is(code, 1, out);
  t.regex(out, /^ok \d+ - sibling$/m);
  t.regex(out, /FAIL: focused test \(\.only\) under CI/);
  t.deepEqual(closing(out), [2, 1]);
});

test('outside CI a focused test runs alone, as ava does, with a note', async (t) => {
  const { code, out } = await run(['only'], { ci: false });
  t.is(code, 0, out);
  t.notRegex(out, /- sibling$/m);
  t.regex(out, /note: \.only in a\.test\.mjs/);
});

test('a test file with no tests fails the run', async (t) => {
  for (const ci of [true, false]) {
    const { code, out } = await run(['zero'], { ci });
    t.is(code, 1, out);
    t.regex(out, /No tests found in a\.test\.mjs/);
    t.regex(out, /zero: FAIL: no test passed/);
  }
});

test('a test without assertions fails (ava failWithoutAssertions)', async (t) => {
  const { code, out } = await run(['no-assertions'], { ci: true });
  t.is(code, 1, out);
  t.regex(out, /Test finished without running any assertions/);
  t.deepEqual(closing(out), [0, 2]);
});
