/**
 * The kernel-eventfd phase: the Dispatcher with `triggers: 'eventfd'` (one kernel eventfd per
 * vector, one epoll set for its one service worker, interrupt mode so every delivery goes through
 * the eventfd) under a raiser thread writing those eventfds, as a device's interrupts do; against
 * bench/c/native-baseline.c in the same bench run, twice:
 * - `drain`: epoll_wait + read of every ready eventfd, in C (gcc -O2), after all were written — the
 *   uncontended floor (every epoll_wait finds all of them ready). The issue's target is against this.
 * - `drain-fds`: the same C drain of eventfds the same raiser thread is writing meanwhile (the
 *   raiser here, the C drain in a child process that inherits the fds) — the floor in the
 *   dispatcher's own regime: each epoll_wait finds what was written since the last, and a read races
 *   the writer's lines and wake-ups.
 * - `drain-uring`: the `drain` case with the counters read by one io_uring_enter per wait, as the
 *   addon's drain reads them (packages/native/cpp/counter-ring.h) — the like-for-like floor, reported
 *   beside the target's ratio so that what io_uring bought is not mistaken for less overhead.
 * Per event: the service worker's own CPU per handled event over C's. The raiser's writes are in
 * neither figure. The raiser raises all vectors per VectorTable.raiseMany, which writes the batch's
 * O_NONBLOCK eventfds with one io_uring_enter where the thread's signal ring works (~120 ns a signal
 * against ~1.2 µs a write() here): a device's interrupts cost its driver no syscall each, and a raiser
 * that paid one per event could not keep a worker busy, whose CPU per event was then its idle spinning
 * through the gaps (docs/decisions.md, batched signals).
 *
 * The dispatcher runs twice, for half the phase each: as configured by default (no moderation), and
 * with interrupt moderation (`coalesceMicros`, {@link COALESCE_MICROS}), as a throughput-minded user
 * of a NIC would run it. Both ratios are reported; so is what moderation costs in latency (the open
 * loop's first-raise → handled p50, moderated over unmoderated, in the same run).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  VFIO_IRQ_SET_ACTION_TRIGGER as ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_EVENTFD as DATA_EVENTFD,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SoftDevice,
} from '@virq/core';
import { Epoll, EventFd, loadNative } from '@virq/native';
import { runDispatcherPhase } from './phase-dispatch.js';
import { median } from './stats-math.js';
import { CONTROL } from './throughput-handler.js';
import type { EventfdResult, RacingDrain } from './throughput-types.js';

/** The repository's C baseline, if this is a checkout (packages/bench-harness/dist/src → the root's bench/c). */
const C_SOURCE = fileURLToPath(new URL('../../../../bench/c/native-baseline.c', import.meta.url));

/** Compiles the C baseline into a temporary directory; the binary's path, or why not. */
export function compileC(): { bin: string; dir: string } | string {
  if (!existsSync(C_SOURCE)) return `no ${C_SOURCE} (not a repository checkout)`;
  const dir = mkdtempSync(join(tmpdir(), 'virq-bench-c-'));
  const bin = join(dir, 'native-baseline');
  try {
    execFileSync('gcc', ['-O2', '-o', bin, C_SOURCE], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `gcc failed: ${(err as Error).message.split('\n')[0]}`;
  }
  return { bin, dir };
}

/** The C drain: `samples` samples of `rounds` rounds over `fds` eventfds, ns per event each. */
function runCDrain(bin: string, fds: number, rounds: number, samples: number, op = 'drain'): number[] {
  const out = execFileSync(bin, [op, String(fds), String(rounds), String(samples)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return (JSON.parse(out) as { ns: number[] }).ns;
}

/**
 * The C drain of `vectors` kernel eventfds that the bench's raiser thread (throughput-raiser.ts,
 * over a SoftDevice's MSI-X vectors bound to those eventfds) writes meanwhile. The child measures
 * `durationMs` of its own thread CPU after `warmupMs` from its first event. Exact accounting: every
 * raise the raiser counted is either drained by the child or still in an eventfd afterwards.
 */
async function runRacingDrain(
  bin: string,
  opts: { vectors: number; durationMs: number; warmupMs: number },
): Promise<RacingDrain> {
  const n = opts.vectors;
  const device = new SoftDevice({ msix: { vectors: n } });
  const efds = Array.from({ length: n }, () => EventFd.create({ nonblock: true }));
  let raiser: Worker | undefined;
  try {
    device.setIrqs({ flags: DATA_EVENTFD | ACTION_TRIGGER, index: MSIX, start: 0, count: n, data: efds });
    // The child's fds 3..3+n-1 are our eventfds (stdio entries past the third are inherited as is).
    const child = spawn(bin, ['drain-fds', '3', String(n), String(opts.warmupMs), String(opts.durationMs)], {
      stdio: ['ignore', 'pipe', 'inherit', ...efds.map((e) => e.fd)],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
    const stdout = child.stdout!; // stdio[1] is 'pipe'
    const ready = new Promise<void>((resolve) => {
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('ready\n')) resolve();
      });
    });
    await Promise.race([ready, exited]);
    const control = new Int32Array(new SharedArrayBuffer(16));
    const counts = new Float64Array(new SharedArrayBuffer(16));
    raiser = new Worker(new URL('./throughput-raiser.js', import.meta.url), {
      workerData: {
        table: device.vectorTable.handle,
        index: MSIX,
        stamps: new SharedArrayBuffer(n * 8),
        control: control.buffer,
        counts: counts.buffer,
        epochMs: performance.timeOrigin,
        vectors: n,
        raiserSlot: 0,
        tidSlot: 1,
      },
    });
    const raiserExit = new Promise((r) => raiser!.once('exit', r));
    const code = await exited;
    Atomics.store(control, CONTROL.STOP, 1);
    await raiserExit;
    raiser = undefined;
    if (code !== 0) throw new Error(`native-baseline drain-fds exited with ${code}`);
    const r = JSON.parse(out.slice(out.indexOf('ready\n') + 6)) as {
      cpuNsPerRead: number;
      readsPerWait: number;
      reads: number;
      events: number;
      totalEvents: number;
    };
    let left = 0;
    for (const e of efds) {
      try {
        left += Number(e.read());
      } catch {
        // EAGAIN: nothing left in this one
      }
    }
    const raised = counts[0];
    if (raised !== r.totalEvents + left) {
      throw new Error(
        `racing drain: the raiser raised ${raised}, the C drain read ${r.totalEvents} and ${left} were left`,
      );
    }
    return {
      cNsPerRead: r.cpuNsPerRead,
      cNsPerEvent: r.events > 0 ? (r.cpuNsPerRead * r.reads) / r.events : Number.NaN,
      readsPerWait: r.readsPerWait,
      raised,
    };
  } finally {
    if (raiser) await raiser.terminate();
    device.close(); // releases the irqs (vfio_pci_irqs_release) before the eventfds close
    for (const e of efds) e.close();
  }
}

/** How a batch of raises over kernel eventfds is signalled on this machine (the raiser's path too). */
function probeSignalPath(): string {
  const efds = [EventFd.create({ nonblock: true }), EventFd.create({ nonblock: true })];
  const native = loadNative();
  try {
    native.eventfdSignalMany(Int32Array.from(efds.map((e) => e.fd)));
    return native.eventfdSignalPath();
  } finally {
    for (const e of efds) e.close();
    native.eventfdSignalRing(false); // this thread's ring: closed again, the bench's main thread keeps none
    native.eventfdSignalRing(true);
  }
}

/** The read path an epoll set of this process takes once a drain has two counters to read. */
function probeReadPath(): string {
  const ep = new Epoll();
  const efds = [EventFd.create({ nonblock: true }), EventFd.create({ nonblock: true })];
  try {
    efds.forEach((e, i) => {
      ep.add(e.fd, i);
      e.write(1);
    });
    ep.drain(new Int32Array(4), new BigUint64Array(4), 0);
    return ep.readPath;
  } finally {
    ep.close();
    for (const e of efds) e.close();
  }
}

/**
 * The moderation window of the phase's second dispatcher run (µs). 200 µs: on a loaded machine it takes
 * the worker from 2–3 events per epoll_wait (4–5 µs each) to ~85 (~1.7 µs); quiet, the worker gathers
 * 25–90 per look and the window is not taken. 50 µs gathered less, 500 µs saved nothing more
 * (docs/decisions.md, interrupt moderation).
 */
export const COALESCE_MICROS = 200;

/** Runs the dispatcher over kernel eventfds (unmoderated, then moderated), then both C drains over as many. */
export async function runEventfdPhase(opts: {
  vectors: number;
  durationMs: number;
  warmupMs: number;
}): Promise<EventfdResult> {
  const run = async (coalesceMicros: number) => {
    const r = await runDispatcherPhase({
      loop: 'open',
      vectors: opts.vectors,
      threads: 1,
      mode: 'interrupt',
      triggers: 'eventfd',
      durationMs: opts.durationMs / 2,
      warmupMs: opts.warmupMs / 2,
      coalesceMicros,
    });
    r.name = `dispatch over kernel eventfds (interrupt${coalesceMicros > 0 ? `, coalesceMicros ${coalesceMicros}` : ''})`;
    r.threads = '1 service worker (epoll) + 1 raiser thread signalling eventfds in batches + main idle';
    return r;
  };
  const dispatch = await run(0);
  const moderatedRun = await run(COALESCE_MICROS);
  const dispatchNsPerEvent = Number(dispatch.extra?.workerCpuNsPerHandled);
  const moderatedNsPerEvent = Number(moderatedRun.extra?.workerCpuNsPerHandled);
  const moderated = {
    coalesceMicros: COALESCE_MICROS,
    dispatch: moderatedRun,
    nsPerEvent: moderatedNsPerEvent,
    ratio: Number.NaN,
    p50VsUnmoderated:
      dispatch.latencyUs.count > 0 && moderatedRun.latencyUs.count > 0
        ? moderatedRun.latencyUs.p50 / dispatch.latencyUs.p50
        : Number.NaN,
  };
  const c = compileC();
  if (typeof c === 'string') {
    return {
      dispatch,
      dispatchNsPerEvent,
      cNsPerEvent: Number.NaN,
      cSamples: [],
      ratio: Number.NaN,
      skipped: c,
      moderated,
    };
  }
  try {
    // ~0.3 µs per event and its write: 7 samples of 64 rounds over 256 fds take ~50 ms.
    const rounds = Math.max(16, Math.round(16384 / opts.vectors));
    const cSamples = runCDrain(c.bin, opts.vectors, rounds, 7);
    const cNsPerEvent = median(cSamples);
    let uring: EventfdResult['uring'];
    try {
      const samples = runCDrain(c.bin, opts.vectors, rounds, 7, 'drain-uring');
      uring = { nsPerEvent: median(samples), samples, ratio: dispatchNsPerEvent / median(samples) };
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      uring = { skipped: stderr || (err as Error).message.split('\n')[0] };
    }
    const racing = await runRacingDrain(c.bin, opts);
    return {
      dispatch,
      dispatchNsPerEvent,
      cNsPerEvent,
      cSamples,
      ratio: dispatchNsPerEvent / cNsPerEvent,
      moderated: { ...moderated, ratio: moderatedNsPerEvent / cNsPerEvent },
      racing,
      racingRatio: dispatchNsPerEvent / racing.cNsPerEvent,
      uring,
      readPath: probeReadPath(),
      signalPath: probeSignalPath(),
    };
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
}
