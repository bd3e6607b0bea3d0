/**
 * The stats snapshot file against other local users (a planted symlink, a directory or snapshot of
 * theirs, a file that is no snapshot) and `virq top` across a counter reset. Real files, a real
 * Dispatcher, the real CLI as a child process; the other user is a real uid the files are chowned to
 * (the tests run as root).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  Dispatcher,
  ensureStatsDir,
  parseSnapshot,
  readSnapshot,
  SoftDevice,
  StatsFileError,
  statsDir,
  VFIO_PCI_MSIX_IRQ_INDEX,
} from '../src/index.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const OTHER_UID = 12345;
const tmp = mkdtempSync(join(tmpdir(), 'virq-stats-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** A private directory, as the user's runtime dir would be. */
function privateDir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, { mode: 0o700 });
  chmodSync(d, 0o700);
  return d;
}

async function withDispatcher<T>(statsFile: string, fn: (d: Dispatcher) => Promise<T>): Promise<T> {
  const device = new SoftDevice({ msix: { vectors: 4 } });
  const d = new Dispatcher({
    device,
    index: VFIO_PCI_MSIX_IRQ_INDEX,
    vectors: 4,
    workers: 1,
    module: new URL('./fixtures/quiet-handler.js', import.meta.url),
    statsFile,
    statsIntervalMs: 20,
  });
  await d.start();
  try {
    return await fn(d);
  } finally {
    await d.stop();
    device.close();
  }
}

test('a symlink planted where the snapshot goes is replaced, its target left untouched', async (t) => {
  const dir = privateDir('planted');
  const victim = join(tmp, 'victim.txt');
  writeFileSync(victim, 'precious\n', { mode: 0o644 });
  const statsFile = join(dir, 'virq-1.json');
  symlinkSync(victim, statsFile);
  await withDispatcher(statsFile, async () => {
    await new Promise((r) => setTimeout(r, 100)); // several periodic writes too
    const st = lstatSync(statsFile);
    t.true(st.isFile(), 'the snapshot is a regular file now, not the symlink');
    t.is(st.mode & 0o777, 0o600, 'readable by its owner only');
    t.is(readSnapshot(statsFile).pid, process.pid);
  });
  t.is(readFileSync(victim, 'utf8'), 'precious\n', 'the symlink target was never written');
  t.is(lstatSync(victim).mode & 0o777, 0o644);
  t.false(existsSync(statsFile), 'removed on stop');
});

test('the snapshot is written 0600 under a umask that would allow more', async (t) => {
  const dir = privateDir('umask');
  const statsFile = join(dir, 'virq-2.json');
  const old = process.umask(0);
  try {
    await withDispatcher(statsFile, async () => {
      t.is(lstatSync(statsFile).mode & 0o777, 0o600);
    });
  } finally {
    process.umask(old);
  }
});

test('the stats directory: $XDG_RUNTIME_DIR/virq when private, created 0700; an unsafe one is refused', (t) => {
  const runtime = privateDir('runtime');
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = runtime;
  try {
    t.is(statsDir(), join(runtime, 'virq'));
    t.is(ensureStatsDir(), join(runtime, 'virq'));
    t.is(lstatSync(join(runtime, 'virq')).mode & 0o777, 0o700);
    // a runtime dir open to others is not used at all: the per-uid tmpfs directory is
    chmodSync(runtime, 0o777);
    t.not(statsDir(), join(runtime, 'virq'));
    t.regex(statsDir(), new RegExp(`virq-${process.getuid?.()}$`));
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
  }
  const theirs = join(tmp, 'theirs');
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, OTHER_UID, OTHER_UID);
  const e1 = t.throws(() => ensureStatsDir(theirs), { instanceOf: StatsFileError });
  t.is(e1.code, 'ERR_VIRQ_STATS_DIR_UNSAFE');
  t.regex(e1.message, /owned by uid 12345/);
  const link = join(tmp, 'link-dir');
  symlinkSync(privateDir('real-dir'), link);
  t.regex(t.throws(() => ensureStatsDir(link), { instanceOf: StatsFileError }).message, /is a symlink/);
  const open = join(tmp, 'open-dir');
  mkdirSync(open);
  chmodSync(open, 0o755);
  t.regex(t.throws(() => ensureStatsDir(open), { instanceOf: StatsFileError }).message, /mode 755/);
});

/** A valid snapshot document naming a live pid (ours). */
function fakeSnapshot(extra: object = {}): string {
  return JSON.stringify({
    pid: process.pid,
    time: Date.now(),
    running: true,
    mode: 'hybrid',
    index: 2,
    totals: {
      raised: 5,
      delivered: 5,
      coalesced: 0,
      pending: 0,
      dropped: 0,
      handled: 5,
      handlerErrors: 0,
      deferredRuns: 0,
      deferredErrors: 0,
    },
    vectors: [
      {
        vector: 0,
        worker: 0,
        mode: 'interrupt',
        masked: false,
        pending: 0,
        raised: 5,
        handled: 5,
        delivered: 5,
        coalesced: 0,
      },
    ],
    workers: [{ id: 0, state: 'running', owned: 1, events: 5, wakeups: 1, polls: 0, restarts: 0 }],
    ...extra,
  });
}

const top = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [cli, 'top', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });

test("another user's snapshot is ignored by top, and refused by name unless --any-user", (t) => {
  const runtime = privateDir('runtime-other');
  const env = { XDG_RUNTIME_DIR: runtime };
  const dir = join(runtime, 'virq');
  mkdirSync(dir, { mode: 0o700 });
  const theirs = join(dir, `virq-${process.pid}.json`);
  writeFileSync(theirs, fakeSnapshot(), { mode: 0o644 });
  chownSync(theirs, OTHER_UID, OTHER_UID);
  const found = top(['--iterations', '1', '--interval', '50ms'], env);
  t.is(found.status, 1, found.stdout);
  t.regex(found.stderr, /no running dispatcher publishes stats in/);
  const named = top(['--file', theirs, '--iterations', '1', '--interval', '50ms'], env);
  t.is(named.status, 1);
  t.regex(named.stderr, /owned by uid 12345, not 0: not read/);
  const told = top(['--file', theirs, '--iterations', '1', '--interval', '50ms', '--any-user'], env);
  t.is(told.status, 0, told.stderr);
  t.regex(told.stdout, new RegExp(`virq top — pid ${process.pid}`));
});

test('a snapshot that does not parse is reported, never shown', (t) => {
  const runtime = privateDir('runtime-bad');
  const dir = join(runtime, 'virq');
  mkdirSync(dir, { mode: 0o700 });
  const bad = join(dir, `virq-${process.pid}.json`);
  writeFileSync(bad, '{"pid": 1, "vectors": [], "workers": [', { mode: 0o600 });
  const found = top(['--iterations', '1', '--interval', '50ms'], { XDG_RUNTIME_DIR: runtime });
  t.is(found.status, 1);
  t.regex(found.stderr, /is not a valid virq stats snapshot: .*\(skipped\)/);
  const named = top(['--file', bad, '--iterations', '1'], { XDG_RUNTIME_DIR: runtime });
  t.is(named.status, 1);
  t.regex(named.stderr, /not a valid virq stats snapshot/);
  t.notRegex(named.stdout, /virq top —/);
  // every field top shows is checked, not only that the JSON parses
  const cases: [object, RegExp][] = [
    [{ pid: -4 }, /pid is not a process id/],
    [{ mode: '\u001b[2Jturbo' }, /unknown mode/],
    [{ time: '1' }, /snapshot\.time is not a finite number/],
    [{ vectors: [{ vector: 0 }] }, /vectors\[0\]\.worker is not a finite number/],
    [
      { workers: [{ id: 0, state: 'x', owned: 0, events: 0, wakeups: 0, polls: 0, restarts: 0 }] },
      /state is unknown/,
    ],
  ];
  for (const [extra, why] of cases) {
    const e = t.throws(() => parseSnapshot(fakeSnapshot(extra)), { instanceOf: StatsFileError });
    t.is(e.code, 'ERR_VIRQ_SNAPSHOT_INVALID');
    t.regex(e.message, why);
  }
  t.is(parseSnapshot(fakeSnapshot()).pid, process.pid);
});

function lines(child: ChildProcess): {
  text: () => string;
  until: (re: RegExp, ms?: number) => Promise<void>;
} {
  let buf = '';
  child.stdout!.on('data', (c) => {
    buf += c.toString();
  });
  return {
    text: () => buf,
    until: async (re, ms = 60_000) => {
      const end = Date.now() + ms;
      while (!re.test(buf)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re} in:\n${buf}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

test('top across a counter reset (the dispatcher restarted under the same file) shows rates from the reset, never negative', async (t) => {
  const dir = privateDir('reset');
  const statsFile = join(dir, 'virq-reset.json');
  const app = spawn(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/restarting-dispatcher.js', import.meta.url)), statsFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const appOut = lines(app);
  const appExit = new Promise<number | null>((r) => app.once('exit', r));
  let viewer: ChildProcess | undefined;
  try {
    await appOut.until(/ready/);
    viewer = spawn(
      process.execPath,
      [cli, 'top', '--file', statsFile, '--interval', '250ms', '--iterations', '14'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const out = lines(viewer);
    const viewerExit = new Promise<number | null>((r) => viewer!.once('exit', r));
    // two refreshes of the busy dispatcher, then the restart under the same file
    await out.until(/(virq top —[\s\S]*){3}/);
    app.kill('SIGUSR2');
    await appOut.until(/restarted/);
    t.is(await viewerExit, 0);
    const frames = out
      .text()
      .split(/(?=virq top —)/)
      .filter((f) => f.startsWith('virq top —'));
    const rate = (f: string) => {
      const m = /raised (\S+)\/s {2}handled (\S+)\/s/.exec(f);
      if (!m) throw new Error(`no rates in ${f}`);
      return m.slice(1, 3);
    };
    const resetAt = frames.findIndex((f) => /counters reset/.test(f));
    t.true(resetAt >= 2, `a frame reports the reset:\n${out.text()}`);
    for (const f of frames) {
      for (const r of rate(f)) t.false(r.startsWith('-'), `a negative rate: ${r}\n${f}`);
      // no vector or worker row has a negative rate either
      t.notRegex(f, /\s-\d/, f);
    }
    // the rates after the reset are the new dispatcher's (8 vectors every 20 ms ≈ 400/s), read from
    // its own counters: neither negative nor the old one's ≈ 40k/s
    const after = frames.slice(resetAt + 1).filter((f) => !/counters reset/.test(f));
    t.true(after.length > 0);
    const toNum = (s: string) => Number.parseFloat(s) * (s.endsWith('k') ? 1e3 : s.endsWith('M') ? 1e6 : 1);
    for (const f of after) {
      const raised = toNum(rate(f)[0]);
      t.true(raised > 0 && raised < 5000, `after the reset: raised ${raised}/s\n${f}`);
    }
  } finally {
    viewer?.kill();
    app.kill('SIGTERM');
  }
  t.is(await appExit, 0);
});
