/**
 * Failure paths of start() and of the stats exporter: nothing may outlive a failed or interrupted
 * start (no worker, fd, binding or timer), and a stats write failure is an 'error' event, not an
 * uncaught exception.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  EventFdPool,
  type IrqSet,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_PCI_MSIX_IRQ_INDEX,
} from '@virq/core';
import test from 'ava';
import { DispatchError, type DispatchErrorEvent, Dispatcher } from '../src/index.js';
import { Leaks, RECORD_HANDLER, Records, range, waitFor, warmUp } from './helpers.js';

test.before(warmUp);

const index = VFIO_PCI_MSIX_IRQ_INDEX;
const GATE_HANDLER = new URL('./fixtures/gate-handler.js', import.meta.url);

function timers(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout');
}

test.serial('a failed start() does not treat ready workers exiting on stop as crashes', async (t) => {
  const leaks = new Leaks();
  const gate = new SharedArrayBuffer(8);
  const g = new Int32Array(gate);
  const d = new Dispatcher({
    device: new SoftDevice({ msix: { vectors: 4 } }),
    vectors: 4,
    workers: 2,
    module: GATE_HANDLER,
    data: { gate, failSlot: 1 },
  });
  const errors: DispatchErrorEvent[] = [];
  const restarts: unknown[] = [];
  d.on('error', (e) => errors.push(e));
  d.on('restart', (e) => restarts.push(e));
  const started = d.start();
  // Worker 0 posts 'ready' before it enters its loop (RUNNING); worker 1 is held at import.
  await waitFor(() => ['running', 'sleeping'].includes(d.stats().workers[0]?.state), 30_000, 'worker 0');
  await new Promise((r) => setTimeout(r, 50));
  Atomics.store(g, 0, 1);
  Atomics.notify(g, 0);
  const err = await t.throwsAsync(started, { instanceOf: DispatchError });
  t.is(err?.code, 'ERR_VIRQ_WORKER');
  t.is(err?.workerId, 1);
  await leaks.check(t);
  t.deepEqual(errors, [], 'worker 0 stopping is no crash: no error event');
  t.deepEqual(restarts, [], 'and no replacement');
  t.false(d.stats().running);
});

test.serial(
  'stop() during start(): start() rejects with ESTATE, no stats timer or file is left',
  async (t) => {
    const leaks = new Leaks();
    const statsFile = `/dev/shm/virq-dispatch-stop-in-start-${process.pid}.json`;
    const rec = new Records(4);
    const d = new Dispatcher({
      device: new SoftDevice({ msix: { vectors: 4 } }),
      vectors: 4,
      module: RECORD_HANDLER,
      data: { buf: rec.buf, seq: rec.seq, vectors: range(4) },
      statsFile,
      statsIntervalMs: 10,
    });
    const started = d.start();
    const stopped = d.stop();
    const err = await t.throwsAsync(started, { instanceOf: DispatchError });
    t.is(err?.code, 'ERR_VIRQ_STATE');
    await stopped;
    t.false(d.stats().running);
    // A leaked exporter would rewrite the file every 10 ms.
    await new Promise((r) => setTimeout(r, 100));
    t.false(existsSync(statsFile), 'no stats file written after stop()');
    t.deepEqual(timers(), [], 'no timer left');
    await t.throwsAsync(() => d.start(), { instanceOf: DispatchError, message: /cannot start when stopped/ });
    await leaks.check(t);
  },
);

/** A SoftDevice whose setIrqs throws on its `failOn`-th call (counted from `arm()`). */
class FlakyDevice extends SoftDevice {
  private calls = 0;
  private failOn = 0;

  arm(failOn: number): void {
    this.calls = 0;
    this.failOn = failOn;
  }

  override setIrqs(set: IrqSet): number {
    if (++this.calls === this.failOn) throw new Error('injected SET_IRQS failure');
    return super.setIrqs(set);
  }
}

test.serial('a SET_IRQS that fails part way leaves none of the earlier runs bound', async (t) => {
  const leaks = new Leaks();
  const dev = new FlakyDevice({ msix: { vectors: 32 } });
  // MSI-X already enabled (by someone else): the dispatcher binds each run of vectors separately.
  dev.setIrqs({
    flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
    index,
    start: 0,
    count: 32,
    data: new Int32Array(32).fill(-1),
  });
  t.is(dev.vectorTable.irqType, index);
  const poolsBefore = EventFdPool.registeredIds();
  const vectors = [2, 3, 5, 6, 9];
  const d = new Dispatcher({ device: dev, vectors, module: RECORD_HANDLER });
  dev.arm(3); // runs [2,3] and [5,6] bind, [9] fails
  await t.throwsAsync(() => d.start(), { message: /injected SET_IRQS failure/ });
  for (const v of vectors) t.is(dev.vectorTable.trigger(index, v), null, `vector ${v} unbound`);
  t.is(dev.vectorTable.irqType, index, 'MSI-X stays enabled (it was before)');
  t.deepEqual(EventFdPool.registeredIds(), poolsBefore, 'no eventfd pool left registered');
  await leaks.check(t);
});

test.serial('EMFILE while creating trigger eventfds leaks none of those created', async (t) => {
  const child = new URL('./fixtures/emfile-child.js', import.meta.url).pathname;
  // 96 fds: enough for node and a few eventfds, not for 200 of them.
  const { stdout } = await promisify(execFile)(
    'prlimit',
    ['--nofile=96:96', process.execPath, child, '200'],
    { timeout: 60_000 },
  );
  const r = JSON.parse(stdout) as { code: string; leaked: number };
  t.is(r.code, 'EMFILE');
  t.is(r.leaked, 0, 'every eventfd created before the failing one was closed');
});

test.serial('a failing stats write is an EIO error event, not an uncaught exception', async (t) => {
  const leaks = new Leaks();
  const dir = mkdtempSync(join(tmpdir(), 'virq-stats-'));
  const statsFile = join(dir, 'stats.json');
  const rec = new Records(2);
  const d = new Dispatcher({
    device: new SoftDevice({ msix: { vectors: 2 } }),
    vectors: 2,
    module: RECORD_HANDLER,
    data: { buf: rec.buf, seq: rec.seq, vectors: range(2) },
    statsFile,
    statsIntervalMs: 10,
  });
  const errors: DispatchErrorEvent[] = [];
  d.on('error', (e) => errors.push(e));
  await d.start();
  t.true(existsSync(statsFile));
  rmSync(dir, { recursive: true, force: true });
  await waitFor(() => errors.length > 0, 30_000, 'a stats error event');
  t.is(errors[0].error.code, 'ERR_VIRQ_STATS_FILE');
  t.regex(errors[0].error.message, /stats/);
  // The exporter keeps running but reports once per failing streak, not every 10 ms.
  await new Promise((r) => setTimeout(r, 100));
  t.is(errors.length, 1);
  t.true(d.stats().running);
  await d.stop();
  t.deepEqual(timers(), [], 'no timer left');
  await leaks.check(t);
});
