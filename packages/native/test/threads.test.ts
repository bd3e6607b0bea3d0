import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Epoll, EventFd } from '../src/index.js';
import { assertNoNewFds, exited, fdSnapshot, nextMessage, noLeaks, startWorker } from './helpers.js';

// Warm up what Node opens once per process on first use (libuv's signal pipe for child processes, the
// worker machinery), so the per-test fd checks see only what the tests themselves open.
test.before(async () => {
  await new Promise((resolve) => spawn(process.execPath, ['-e', '0']).on('exit', resolve));
  const ev = EventFd.create();
  const w = startWorker('writer', { fds: [ev.fd], value: '1' });
  await exited(w);
  ev.close();
});

const indexUrl = new URL('../src/index.js', import.meta.url).href;

test.serial('a write from another worker thread wakes a blocked Epoll.wait on this thread', async (t) => {
  await noLeaks(t, async () => {
    const ev = EventFd.create({ nonblock: true });
    const ep = new Epoll();
    ep.add(ev.fd, 21);
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const worker = startWorker('writer', { fds: [ev.fd], value: '77', gate });
    const done = exited(worker);
    // The worker only writes once we are about to block, so this wait really sleeps in the kernel.
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const events = ep.wait(4, 60_000);
    t.deepEqual(events, [{ tag: 21, events: 1 }]);
    t.is(ev.read(), 77n);
    t.is(await done, 0);
    ep.close();
    ev.close();
  });
});

test.serial(
  'a write from a child process (fd passed through stdio) wakes a blocked Epoll.wait',
  async (t) => {
    await noLeaks(t, async () => {
      const ev = EventFd.create({ nonblock: true });
      const ep = new Epoll();
      ep.add(ev.fd, 5);
      const script =
        "const b = Buffer.alloc(8); b.writeBigUInt64LE(12345n); require('fs').writeSync(3, b); process.exit(0);";
      const child = spawn(process.execPath, ['-e', script], {
        stdio: ['ignore', 'inherit', 'inherit', ev.fd],
      });
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const tags = new Int32Array(4);
      const counts = new BigUint64Array(4);
      let n = 0;
      while (n === 0) n = ep.drain(tags, counts, 60_000);
      t.is(n, 1);
      t.is(tags[0], 5);
      t.is(counts[0], 12345n);
      t.is(await exit, 0);
      ep.close();
      ev.close();
    });
  },
);

test.serial(
  "a worker blocked in drain(-1) is woken through its set's wake fd, then exits cleanly",
  async (t) => {
    await noLeaks(t, async () => {
      const evs = Array.from({ length: 4 }, () => EventFd.create({ nonblock: true }));
      const worker = startWorker('drainer', { fds: evs.map((e) => e.fd) });
      const done = exited(worker);
      const { wakeFd } = await nextMessage<{ wakeFd: number }>(worker);
      // Take our own reference while the worker's set is certainly open: writes can then never reach a
      // recycled fd number, whenever the worker closes its set.
      const waker = EventFd.fromFd(wakeFd);
      const result = nextMessage<{ totals: Record<string, string> }>(worker);
      evs[1].write(3n);
      evs[2].write(4n);
      evs[1].write(1n);
      // No way to know the worker drained those before the wake: totals are checked as a sum below.
      waker.write(1);
      const { totals } = await result;
      t.is(await done, 0);
      waker.close();
      // Whatever the worker did not drain before it was woken is still in the counters.
      const left = evs.map((e) => {
        try {
          return e.read();
        } catch {
          return 0n;
        }
      });
      t.is(BigInt(totals[1] ?? 0) + left[1], 4n);
      t.is(BigInt(totals[2] ?? 0) + left[2], 4n);
      t.is(BigInt(totals[0] ?? 0) + left[0], 0n);
      for (const e of evs) e.close();
    });
  },
);

test.serial(
  'a set created with { wakeFd } in a worker is woken by the controller writing its own eventfd',
  async (t) => {
    await noLeaks(t, async () => {
      const stop = EventFd.create({ nonblock: true });
      const work = EventFd.create({ nonblock: true });
      const worker = startWorker('drainer', { fds: [work.fd], wakeFd: stop.fd });
      const done = exited(worker);
      await nextMessage(worker);
      const result = nextMessage<{ totals: Record<string, string>; batches: number }>(worker);
      stop.write(1);
      const { batches } = await result;
      t.true(batches >= 1);
      t.is(await done, 0);
      stop.close();
      work.close();
    });
  },
);

test.serial('the addon loads in 8 workers at once, each doing real work', async (t) => {
  await noLeaks(t, async () => {
    const shared = EventFd.create({ nonblock: true });
    const workers = Array.from({ length: 8 }, (_, index) =>
      startWorker('busy', { index, shared: shared.fd }),
    );
    const exits = Promise.all(workers.map(exited));
    const results = await Promise.all(workers.map((w) => nextMessage<{ index: number; ok: boolean }>(w)));
    const codes = await exits;
    t.deepEqual(
      results.map((r) => r.ok),
      Array(8).fill(true),
    );
    t.deepEqual(codes, Array(8).fill(0));
    t.is(shared.read(), 36n, 'each worker added index + 1 to the shared eventfd');
    shared.close();
  });
});

test.serial(
  'a worker that exits without closing anything leaves no fd and no libuv handle behind',
  async (t) => {
    const before = fdSnapshot();
    const worker = startWorker('leaky');
    const exit = exited(worker);
    const msg = await nextMessage<{ watched: boolean; open: number[] }>(worker);
    t.true(msg.watched);
    t.is(await exit, 0);
    assertNoNewFds(t, before);
  },
);

test.serial('watch() drains on the main thread without blocking the event loop', async (t) => {
  await noLeaks(t, async () => {
    const evs = Array.from({ length: 64 }, () => EventFd.create({ nonblock: true }));
    const ep = new Epoll();
    evs.forEach((ev, i) => {
      ep.add(ev.fd, i);
    });
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const tags = new Int32Array(1024);
    const counts = new BigUint64Array(1024);
    const totals = new Map<number, bigint>();
    let callbacks = 0;
    let ticks = 0;
    const want = 64n * 5n;
    const all = new Promise<void>((resolve) => {
      ep.watch(tags, counts, (n) => {
        callbacks++;
        for (let i = 0; i < n; i++) totals.set(tags[i], (totals.get(tags[i]) ?? 0n) + counts[i]);
        const sum = [...totals.values()].reduce((a, b) => a + b, 0n);
        if (sum === want) resolve();
      });
    });
    t.true(ep.watching);
    // Writers start only after the event loop has run timers while the watch was active: proof that
    // watching does not block the loop (no duration is measured).
    const writers = [0, 1, 2, 3].map((k) =>
      startWorker('writer', { fds: evs.filter((_, i) => i % 4 === k).map((ev) => ev.fd), value: '5', gate }),
    );
    const writersDone = Promise.all(writers.map(exited));
    const timer = setInterval(() => {
      ticks++;
      if (ticks === 3) {
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
      }
    }, 5);
    await all;
    clearInterval(timer);
    t.true(ticks >= 3);
    t.true(callbacks >= 1);
    t.deepEqual(
      [...totals].sort((a, b) => a[0] - b[0]),
      evs.map((_, i) => [i, 5n]),
    );
    await writersDone;
    ep.unwatch();
    t.false(ep.watching);
    ep.close();
    for (const ev of evs) ev.close();
  });
});

test.serial('an active watch keeps the process alive, and unwatch() lets it exit', async (t) => {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('../../test/fixtures/watch-child.mjs', import.meta.url)), indexUrl],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 0);
  t.deepEqual(JSON.parse(out), { n: 1, tag: 11, count: '5' });
});

test.serial('a worker terminated inside a throwing addon call dies alone, the process lives', async (t) => {
  // A terminate() makes the worker's env refuse to run JS; an addon call throwing then could not
  // hand its error to JS, and node-addon-api (C++ exceptions) threw a second one out of its own
  // catch: "terminate called after throwing an instance of 'Napi::Error'", the whole process
  // aborted — before NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (binding.gyp) it did so within 10 of
  // these rounds, every time. The dispatcher terminates workers (stall restarts, kill).
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('../../test/fixtures/terminate-child.mjs', import.meta.url)), '100'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(err, '', 'nothing on stderr (no "terminate called")');
  t.is(code, 0);
  t.is(out.trim(), '100', 'all 100 rounds of two terminated workers');
});
