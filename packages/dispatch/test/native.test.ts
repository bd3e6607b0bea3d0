import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { isAvailable } from '@virq/native';
import test from 'ava';
import { type DispatchErrorEvent, Dispatcher, type DispatchMode } from '../src/index.js';
import { Leaks, quiesce, R, RECORD_HANDLER, Records, raise, range, waitFor, warmUp } from './helpers.js';

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
    const leaks = new Leaks();
    const dev = new SoftDevice({ msix: { vectors: N } });
    const rec = new Records(N);
    const d = new Dispatcher({
      device: dev,
      vectors: N,
      workers: 2,
      module: RECORD_HANDLER,
      mode,
      triggers: 'eventfd',
      hybrid: { pollAbove: 2_000, interruptBelow: 500, windowMs: 5 },
      data: { buf: rec.buf, seq: rec.seq, vectors: range(N), defer: true },
    });
    const errors: DispatchErrorEvent[] = [];
    d.on('error', (e) => errors.push(e));
    t.teardown(() => d.stop());
    await d.start();
    const table = dev.vectorTable;
    const fds = range(N).map((v) => {
      const desc = table.trigger(VFIO_PCI_MSIX_IRQ_INDEX, v);
      if (desc?.kind !== 'kernel') throw new Error('expected a kernel eventfd trigger');
      return desc.fd;
    });
    const [written, raised] = await Promise.all([
      childWrites(fds, 100),
      raise(
        range(2).map((i) => ({
          table: table.handle,
          index: VFIO_PCI_MSIX_IRQ_INDEX,
          vectors: range(N),
          rounds: 100,
          seq: rec.seq,
          seed: 31 + i,
        })),
      ),
    ]);
    t.is(written, N * 100);
    // The child's writes are foreign to the table: it counts them (raised and external) when they
    // are consumed.
    await quiesce(d, written + raised);
    const s = d.stats();
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
    await leaks.check(t);
  });
}

test.serial('eventfd triggers: a worker that dies is replaced and closes its epoll set', async (t) => {
  const leaks = new Leaks();
  const dev = new SoftDevice({ msix: { vectors: N } });
  const rec = new Records(N);
  const exitOnce = new SharedArrayBuffer(4);
  const d = new Dispatcher({
    device: dev,
    vectors: N,
    workers: 2,
    module: RECORD_HANDLER,
    mode: 'interrupt',
    triggers: 'eventfd',
    data: { buf: rec.buf, seq: rec.seq, vectors: range(N), exits: [[9, 2]], exitOnce },
  });
  const errors: DispatchErrorEvent[] = [];
  const restarts: number[] = [];
  d.on('error', (e) => errors.push(e));
  d.on('restart', (e: { workerId: number }) => restarts.push(e.workerId));
  t.teardown(() => d.stop());
  await d.start();
  let accepted = 0;
  for (let phase = 0; phase < 3; phase++) {
    const n = await raise([
      {
        table: dev.vectorTable.handle,
        index: VFIO_PCI_MSIX_IRQ_INDEX,
        vectors: range(N),
        rounds: 50,
        seq: rec.seq,
        seed: phase + 1,
      },
    ]);
    accepted += n;
    await quiesce(d, accepted);
  }
  await waitFor(() => restarts.length === 1, 60_000, 'the replacement');
  t.is(errors.length, 1);
  t.is(errors[0].error.code, 'EWORKER');
  t.is(errors[0].vector, 9);
  t.is(errors[0].workerId, 1);
  for (let v = 0; v < N; v++) t.is(rec.get(v, R.SUM), d.stats().vectors[v].raised);
  await d.stop();
  await leaks.check(t);
});
