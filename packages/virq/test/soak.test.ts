/**
 * `virq soak` as a user runs it: the built command in a child process, its JSON report read back.
 * A 60-second soak (every mode in turn, throws, process.exit and external terminates injected, rebalances) and a short crash
 * storm; each must end with the verdict PASS, zero raises lost and nothing left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface SoakJson {
  verdict: { pass: boolean; reasons: string[] };
  totals: { accepted: number; lost: number; doubled: number; redelivered: number; faults: number };
  segments: unknown[];
}

function runSoak(args: string[]): Promise<{ code: number | null; out: string; report: SoakJson }> {
  const dir = mkdtempSync(join(tmpdir(), 'virq-soak-'));
  const json = join(dir, 'soak.json');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'soak', ...args, '--json', json], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve({ code, out, report: JSON.parse(readFileSync(json, 'utf8')) as SoakJson });
      } catch (e) {
        reject(new Error(`soak wrote no report (exit ${code}): ${out}\n${e}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

// All three faults, terminate included (terminateWorker lands only where the thread holds nothing; see
// dispatch's terminate.test.ts). The first half is warm-up (the soak's short cycles, capped at half the
// run): V8 adds baseline code, optimized code and feedback to a path by how often it ran, so the heap
// grows for the first few dozen Dispatcher cycles and then levels off (docs/decisions.md: with tiering
// and lazy feedback off it is flat from the second cycle), and a 10-second warm-up measured that.
test.serial(
  'virq soak --duration 60s: every mode, faults and rebalances, verdict PASS, nothing lost',
  async (t) => {
    const { code, out, report } = await runSoak(['--duration', '60s', '--warmup', '30s']);
    t.log(out.split('\n').slice(-12).join('\n'));
    t.is(code, 0, out);
    t.true(report.verdict.pass, report.verdict.reasons.join('; '));
    t.is(report.totals.lost, 0);
    // At-least-once across a crash, the soak's own contract (soak.ts, `doubled`): a terminate may land
    // inside a handler after it counted its call and before the delivery is recorded, and the
    // replacement runs it again. So a raise seen twice is allowed only as one of the redelivered ones
    // (seen once in 291 M raises with 20 terminates, fresh-clone run of 2026-12-04), never beyond.
    t.true(
      report.totals.doubled <= report.totals.redelivered,
      `${report.totals.doubled} seen twice, ${report.totals.redelivered} redelivered`,
    );
    t.true(report.totals.accepted > 0);
    t.true(report.totals.faults > 0, 'faults were injected');
    t.true(report.segments.length >= 3, 'every mode ran');
  },
);

test.serial('virq soak --crashes 30: a crash storm under a raise storm loses nothing', async (t) => {
  const { code, out, report } = await runSoak(['--crashes', '30', '--faults', 'throw,exit']);
  t.is(code, 0, out);
  t.true(report.verdict.pass, report.verdict.reasons.join('; '));
  t.is(report.totals.lost, 0);
  t.is(report.totals.doubled, 0);
  t.true(report.totals.accepted > 0);
  t.is(report.totals.faults, 30);
});
