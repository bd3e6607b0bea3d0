import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { isAvailable } from '@virq/native';
import test from 'ava';
import type { DispatchMode } from '../src/index.js';
import { quiesce, R, range, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 64;

/** Runs writer-child with the given fds as its fds 3.. and resolves with the writes it made. */
function childWrites(fds: number[], rounds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('./fixtures/writer-child.js', import.meta.url)),
        String(fds.length),
        String(rounds),
      ],
      { stdio: ['ignore', 'pipe', 'inherit', ...fds] },
    );
    let out = '';
    child.stdout!.on('data', (b) => {
      out += b;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`child exited ${code}`)),
    );
  });
}

test('the native addon is available (kernel eventfd tests need it)', (t) => {
  t.true(isAvailable());
});

for (const mode of ['interrupt', 'hybrid'] as DispatchMode[]) {
  test.serial(`${mode}: kernel eventfds in epoll, signalled by a child process and by raises`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode,
      triggers: 'eventfd',
      hybrid: { pollAbove: 2_000, interruptBelow: 500, windowMs: 5 },
      data: { defer: true },
    });
    const { dev, rec, d, errors, storm, finish } = f;
    const table = dev.vectorTable;
    const fds = range(N).map((v) => {
      const desc = table.trigger(VFIO_PCI_MSIX_IRQ_INDEX, v);
      if (desc?.kind !== 'kernel') throw new Error('expected a kernel eventfd trigger');
      return desc.fd;
    });
    const [written, raised] = await Promise.all([childWrites(fds, 100), storm(100, { seed: 31 })]);
    t.is(written, N * 100);
    t.is(raised, N * 2 * 100, 'every raise of the storm was accepted');
    // The child's writes are foreign to the table: it counts them (raised and external) when they
    // are consumed.
    await quiesce(d, written + raised);
    const s = d.stats();
    // Per vector: the storm's 2 × 100 raises and the child's 100 writes.
    f.account(2 * 100 + 100, 'the storm and the child');
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
    for (let v = 0; v < N; v++) {
      const c = table.counters(VFIO_PCI_MSIX_IRQ_INDEX, v);
      t.is(c.external, 100, `vector ${v}: the child's writes arrived`);
      if (mode === 'interrupt')
        t.is(rec.get(v, R.SUM), c.raised, `vector ${v}: every signal reached a handler`);
      t.is(rec.get(v, R.CALLS), c.delivered);
    }
    t.is(rec.sum(R.OVERLAP), 0);
    t.deepEqual(errors, []);
    await d.stop();
    t.is(rec.sum(R.THREAD_OVERLAP), 0);
    await finish();
  });
}

test.serial('eventfd triggers: a worker that dies is replaced and closes its epoll set', async (t) => {
  const exitOnce = new SharedArrayBuffer(4);
  const f = await withDispatcher(t, {
    vectors: N,
    workers: 2,
    mode: 'interrupt',
    triggers: 'eventfd',
    data: { exits: [[9, 2]], exitOnce },
  });
  const { rec, d, errors, restarts, storm, finish } = f;
  let accepted = 0;
  for (let phase = 0; phase < 3; phase++) {
    const n = await storm(50, { raisers: 1, seed: phase + 1 });
    accepted += n;
    await quiesce(d, accepted);
  }
  await waitFor(() => restarts.length === 1, 60_000, 'the replacement');
  t.is(accepted, N * 50 * 3, 'every raise of the three phases was accepted');
  t.deepEqual(Array.from(new Int32Array(exitOnce)), [1], 'the planned crash happened');
  f.account(50 * 3, 'the three phases');
  const s = d.stats();
  t.true(s.vectors[9].redelivered >= 1, 'what the dead worker held was delivered again');
  t.is(s.workers[1].restarts, 1);
  t.is(s.workers[0].restarts, 0);
  for (let v = 0; v < N; v++)
    t.is(rec.get(v, R.CALLS), s.vectors[v].delivered, `vector ${v}: one call per delivery`);
  t.is(rec.sum(R.ORDER_BAD), 0);
  t.is(rec.sum(R.OVERLAP), 0);
  t.is(errors.length, 1);
  t.is(errors[0].error.code, 'ERR_VIRQ_WORKER');
  t.is(errors[0].vector, 9);
  t.is(errors[0].workerId, 1);
  for (let v = 0; v < N; v++) t.is(rec.get(v, R.SUM), d.stats().vectors[v].raised);
  await finish();
});

for (const coalesceMicros of [0, 1_000_000]) {
  test.serial(
    `interrupt moderation ${coalesceMicros > 0 ? 'on (1 s window)' : 'off'}: raises 10 ms apart after a first one are taken ${coalesceMicros > 0 ? 'by one collect' : 'more than one collect'}`,
    async (t) => {
      // One worker over kernel eventfds. The first raise is handled at once (the worker was asleep in
      // epoll); with a window the worker then sleeps it out, so the seven raises that follow, 10 ms
      // apart (70 ms in all, well inside 1 s), are all ready at its next look: one more batch. Without
      // one, the worker is back in epoll_wait long before each next raise: seven more.
      const n = 8;
      const f = await withDispatcher(t, {
        vectors: n,
        workers: 1,
        mode: 'interrupt',
        triggers: 'eventfd',
        coalesceMicros,
      });
      const { dev, rec, d, errors, finish } = f;
      dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
      await waitFor(() => rec.get(0, R.CALLS) === 1, 30_000, 'the first raise handled');
      const before = d.stats().workers[0].batches;
      for (let v = 1; v < n; v++) {
        await new Promise((r) => setTimeout(r, 10));
        dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, v);
      }
      await quiesce(d, n);
      const batches = d.stats().workers[0].batches - before;
      // Off, 10 ms gaps give a collect per raise unless a loaded machine wakes the worker late (two
      // raises in one look); never one for all seven.
      if (coalesceMicros > 0) t.is(batches, 1, 'one collect found all seven');
      else t.true(batches >= 2, `collects that found the seven: ${batches}`);
      f.account(1, 'one raise per vector');
      for (let v = 0; v < n; v++) t.is(rec.get(v, R.CALLS), 1, `vector ${v}: one call`);
      t.deepEqual(errors, []);
      // The worker is sleeping out a window again (it just took a batch): stop() wakes it (STOP is
      // notified), and finish() checks no thread or fd is left.
      await finish();
    },
  );
}

test.serial(
  'interrupt moderation: a collect that found a batch (8 or more) is not followed by a window',
  async (t) => {
    // 1 s window. Vector 0 alone (a collect of 1: the worker sleeps), then vectors 1..15 inside that
    // window: one collect of 15 after it, which is a batch already, so the worker goes straight back to
    // epoll. Then vector 0 and, 50 ms later, vector 1: taken by two collects (0 at once, 1 after 0's
    // window). Had the worker slept after the 15 as well, both would have landed in that window: one.
    const n = 16;
    const f = await withDispatcher(t, {
      vectors: n,
      workers: 1,
      mode: 'interrupt',
      triggers: 'eventfd',
      coalesceMicros: 1_000_000,
    });
    const { dev, rec, d, errors, finish } = f;
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await waitFor(() => rec.get(0, R.CALLS) === 1, 30_000, 'the first raise handled');
    const b0 = d.stats().workers[0].batches;
    for (let v = 1; v < n; v++) dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, v);
    await quiesce(d, n);
    t.is(d.stats().workers[0].batches - b0, 1, 'the fifteen in one collect');
    const b1 = d.stats().workers[0].batches;
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await new Promise((r) => setTimeout(r, 50));
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 1);
    await quiesce(d, n + 2);
    t.is(d.stats().workers[0].batches - b1, 2, 'vector 0 at once, vector 1 after its window');
    const per = new Array<number>(n).fill(1);
    per[0] = 2;
    per[1] = 2;
    f.account(per, 'the raises');
    t.deepEqual(errors, []);
    await finish();
  },
);
