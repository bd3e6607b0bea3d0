import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

// The built binary, run as a user would run it: a child process, its stdout, stderr and exit code.
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const run = (args: string[], timeout = 120_000) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout });

// The same, asynchronously: a bench takes tens of seconds on a loaded machine, and a spawnSync would
// hold this file's event loop (and ava's view of its progress) for all of them at once.
const runAsync = (args: string[], timeout = 240_000) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });

const tmp = mkdtempSync(join(tmpdir(), 'virq-cli-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

test.serial('bench with a short duration writes JSON whose accounting balances', async (t) => {
  const out = join(tmp, 'bench.json');
  const r = await runAsync(['bench', '--duration', '1s', '--vectors', '32', '--workers', '2', '--json', out]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /closed loop ÷ piscina task per event/);
  t.regex(r.stdout, /dispatch closed loop \(hybrid\)/);
  t.regex(r.stdout, /kernel eventfds: service worker CPU per event ÷ C epoll drain/);
  const result = JSON.parse(readFileSync(out, 'utf8'));
  // The open loop leaves its raiser thread a CPU: on 2 workers only where the CPUs hold all three.
  const openWorkers = availableParallelism() >= 3 ? 2 : 1;
  t.deepEqual(result.options, { durationMs: 1000, vectors: 32, threads: 2, mode: 'hybrid', openWorkers });
  t.is(
    result.phases.open.threads,
    `${openWorkers} service worker${openWorkers === 1 ? '' : 's'} + 1 raiser thread + main idle`,
  );
  // The storm on all 2 workers sharing the CPUs with the raiser is measured beside it where they do.
  t.is('openShared' in result.phases, openWorkers < 2);
  // Every dispatcher phase, read after its raising threads stopped: core counted exactly the raises
  // the bench's own threads made (counted by those threads), and each is delivered, coalesced,
  // pending or dropped.
  const accounts = [
    ...['closed', 'open', 'openShared', 'openDeferred', 'scale16', 'scale2048', 'eventfd']
      .filter((p) => p in result.phases)
      .map((p) => [p, result.phases[p].accounting] as const),
    ['latency', result.latency.accounting] as const,
  ];
  for (const [phase, a] of accounts) {
    t.true(a.expected > 0, `${phase}: the bench raised something`);
    t.is(a.raised, a.expected, `${phase}: core counted exactly the bench's raises`);
    t.is(a.raised, a.delivered + a.coalesced + a.pending + a.dropped, `${phase}: nothing lost`);
    t.true(a.balanced, phase);
  }
  // ...and the report says so, counting the phases it checked.
  t.regex(
    r.stdout,
    new RegExp(`^ {2}accounting exact: in all ${accounts.length} dispatcher phases of the run,`, 'm'),
  );
  // The closed loop raises each vector once at the start; the open loop's raiser a whole batch.
  t.true(result.phases.closed.accounting.expected >= 32);
  t.true(result.phases.open.accounting.expected >= 32);
  // JSON writes a non-finite ratio (a baseline that handled nothing in its window) as null.
  const ratio = result.phases.closed.handledPerSec / result.phases.piscina.handledPerSec;
  t.is(result.ratios.closedVsPiscina, Number.isFinite(ratio) ? ratio : null);
});

test.serial(
  'bench --runs 2 runs two fresh processes and reports the median and spread of each figure',
  async (t) => {
    const out = join(tmp, 'runs.json');
    const r = await runAsync([
      'bench',
      '--runs',
      '2',
      '--duration',
      '300ms',
      '--vectors',
      '16',
      '--json',
      out,
    ]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /run 1\/2 … [\d.]+ s\nrun 2\/2 … [\d.]+ s/);
    t.regex(r.stdout, /virq bench: 2 runs, each a fresh process \(virq bench --runs 2 --duration 300ms/);
    t.regex(r.stdout, /load average \(1\/5\/15 min\): [\d.]+ \/ [\d.]+ \/ [\d.]+ at the start/);
    t.regex(r.stdout, /median of 2\s+spread \(min – max\)/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    t.is(j.runs.length, 2);
    t.not(j.runs[0].load, undefined);
    // Each summary row is made of the two runs' own values for that figure.
    const closed = j.summary.find((s: { key: string }) => s.key === 'closedVsPiscina');
    t.deepEqual(closed.values, [j.runs[0].ratios.closedVsPiscina, j.runs[1].ratios.closedVsPiscina]);
    // JSON holds null for a run that could not measure it (a baseline with nothing in its window under
    // load): the spread is over the runs that did, and says how many did.
    const measured = closed.values.filter((v: number | null) => v !== null);
    t.is(closed.measured, measured.length);
    t.is(closed.min, measured.length > 0 ? Math.min(...measured) : null);
    t.is(closed.max, measured.length > 0 ? Math.max(...measured) : null);
    for (const run of j.runs) t.true(run.phases.open.accounting.balanced);
    // The report checked every dispatcher phase of both runs (the latency phase's too).
    const checked = j.runs.reduce(
      (n: number, run: { phases: Record<string, { accounting?: unknown }> }) =>
        n + Object.values(run.phases).filter((p) => p.accounting).length + 1,
      0,
    );
    t.true(checked >= 2 * 7, `${checked} phases`);
    t.regex(
      r.stdout,
      new RegExp(`^accounting exact: in all ${checked} dispatcher phases of the 2 runs`, 'm'),
    );
  },
);

test('bench --runs refuses --html (a report of one run)', (t) => {
  const r = run(['bench', '--runs', '2', '--html', join(tmp, 'x.html')]);
  t.is(r.status, 64);
  t.regex(r.stderr, /--runs: --html and --stats-file are for a single run/);
});

test.serial('bench --html writes a self-contained report with both plots', async (t) => {
  const out = join(tmp, 'report.html');
  const r = await runAsync([
    'bench',
    '--duration',
    '500ms',
    '--vectors',
    '16',
    '--mode',
    'interrupt',
    '--html',
    out,
  ]);
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
  [['bench', '--runs', '0'], /--runs: must be between 1 and 50, got 0/],
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
