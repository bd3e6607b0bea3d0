import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

// The built binary, run as a user would run it: a child process, its stdout, stderr and exit code.
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const run = (args: string[], timeout = 120_000) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout });

const tmp = mkdtempSync(join(tmpdir(), 'virq-cli-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

test('bench with a short duration writes JSON whose accounting balances', (t) => {
  const out = join(tmp, 'bench.json');
  const r = run(['bench', '--duration', '1s', '--vectors', '32', '--workers', '2', '--json', out]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /closed loop ÷ piscina task per event/);
  t.regex(r.stdout, /dispatch closed loop \(hybrid\)/);
  const result = JSON.parse(readFileSync(out, 'utf8'));
  t.deepEqual(result.options, { durationMs: 1000, vectors: 32, threads: 2, mode: 'hybrid' });
  for (const phase of ['closed', 'open'] as const) {
    const a = result.phases[phase].accounting;
    t.true(a.raised > 0, `${phase}: something was raised`);
    t.is(a.raised, a.delivered + a.coalesced + a.pending + a.dropped, `${phase}: nothing lost`);
    t.true(a.balanced);
    t.true(result.phases[phase].handled > 0);
  }
  t.is(
    result.ratios.closedVsPiscina,
    result.phases.closed.handledPerSec / result.phases.piscina.handledPerSec,
  );
});

test('bench --html writes a self-contained report with both plots', (t) => {
  const out = join(tmp, 'report.html');
  const r = run(['bench', '--duration', '500ms', '--vectors', '16', '--mode', 'interrupt', '--html', out]);
  t.is(r.status, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  t.regex(html, /Raise → handler latency distribution/);
  t.regex(html, /Throughput against vector count/);
  t.is((html.match(/<svg /g) ?? []).length, 2);
  t.notRegex(
    html,
    /<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
    'no scripts or external resources',
  );
});

test('probe on a machine without VFIO says so and how to bind a device', (t) => {
  t.false(existsSync('/dev/vfio/vfio'), 'this test is about a machine without VFIO');
  const r = run(['probe']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /No VFIO on this machine/);
  t.regex(r.stdout, /modprobe vfio-pci/);
  t.regex(r.stdout, /driver_override/);
  const j = run(['probe', '--json']);
  t.deepEqual(JSON.parse(j.stdout), { vfioLoaded: false, functions: [] });
});

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('top attaches to a running dispatcher and shows one refresh', async (t) => {
  const statsFile = join(tmp, `virq-top-${process.pid}.json`);
  const child: ChildProcess = spawn(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/running-dispatcher.js', import.meta.url)), statsFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitFor(() => existsSync(statsFile), 'the stats file');
    const r = spawnSync(
      process.execPath,
      [cli, 'top', '--file', statsFile, '--iterations', '1', '--interval', '300ms'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`virq top — pid ${child.pid} \\(running\\), MSI-X, 8 vectors, 2 workers`));
    t.regex(
      r.stdout,
      /accounting: raised \d+ = delivered \d+ \+ coalesced \d+ \+ pending \d+ \+ dropped \d+/,
    );
    const vectorRows = r.stdout.split('\n').filter((l) => /^\d+\s+\d+\s+(interrupt|poll)\b/.test(l));
    t.is(vectorRows.length, 8, r.stdout);
    const workerRows = r.stdout.split('\n').filter((l) => /^\d+\s+(running|sleeping|starting)\s+\d+/.test(l));
    t.is(workerRows.length, 2, r.stdout);
  } finally {
    child.kill('SIGTERM');
  }
  t.is(await exited, 0);
  t.false(existsSync(statsFile), 'the dispatcher removed its stats file on stop');
});

test('top without a running dispatcher says how to start one', (t) => {
  const r = run(['top', '--file', join(tmp, 'nope.json'), '--iterations', '1']);
  t.is(r.status, 1);
  t.regex(r.stderr, /cannot read .*nope\.json/);
});

const BAD_INPUT: [string[], RegExp][] = [
  [[], /Usage: virq <command>/],
  [['frobnicate'], /unknown command 'frobnicate'/],
  [['bench', '--vectors', '0'], /--vectors: must be between 1 and 2048, got 0/],
  [['bench', '--vectors', '4096'], /--vectors: must be between 1 and 2048/],
  [['bench', '--vectors', 'many'], /--vectors: expected a whole number, got 'many'/],
  [['bench', '--workers', '0'], /--workers: must be between 1 and 64/],
  [['bench', '--mode', 'turbo'], /--mode: expected one of interrupt, poll, hybrid, got 'turbo'/],
  [['bench', '--duration', 'soon'], /--duration: expected a duration like 10s/],
  [['bench', '--duration', '10ms'], /--duration: at least 200ms/],
  [['bench', '--json'], /bench: Option '--json <value>' argument missing\n$/],
  [['bench', '--frob'], /bench: Unknown option '--frob'/],
  [['bench', 'extra'], /bench: Unexpected argument 'extra'/],
  [['top', '--interval', '0s'], /--interval: duration must be greater than zero/],
  [['top', '--rows', '-3'], /top: Option '--rows' argument is ambiguous\n$/],
  [['probe', '--all'], /probe: Unknown option '--all'/],
];

for (const [args, message] of BAD_INPUT) {
  test(`bad input: virq ${args.join(' ') || '(no command)'} → one-line error, exit 64`, (t) => {
    const r = run(args);
    t.is(r.status, 64);
    if (args.length === 0) {
      t.regex(r.stdout, message);
      return;
    }
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    t.regex(r.stderr, /^virq: /);
  });
}

for (const command of ['bench', 'top', 'probe']) {
  test(`virq ${command} --help prints its usage and exits 0`, (t) => {
    const r = run([command, '--help']);
    t.is(r.status, 0);
    t.regex(r.stdout, new RegExp(`^Usage: virq ${command}`));
  });
}
