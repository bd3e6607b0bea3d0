/**
 * The kernel-eventfd phase: the Dispatcher with `triggers: 'eventfd'` (one kernel eventfd per
 * vector, one epoll set for its one service worker, interrupt mode so every delivery goes through
 * the eventfd) under a raiser thread writing those eventfds, as a device's interrupts do; against
 * bench/c/native-baseline.c's `drain` (epoll_wait + read of every ready eventfd, in C, gcc -O2),
 * compiled and run in the same bench run. Per event: the service worker's own CPU per handled
 * event over C's time per drained event. The raiser's writes are in neither figure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDispatcherPhase } from './phase-dispatch.js';
import { median } from './stats-math.js';
import type { EventfdResult } from './throughput-types.js';

/** The repository's C baseline, if this is a checkout (packages/bench-harness/dist/src → the root's bench/c). */
const C_SOURCE = fileURLToPath(new URL('../../../../bench/c/native-baseline.c', import.meta.url));

/** Compiles and runs the C drain: `samples` samples of `rounds` rounds over `fds` eventfds. */
function runCDrain(fds: number, rounds: number, samples: number): number[] | string {
  if (!existsSync(C_SOURCE)) return `no ${C_SOURCE} (not a repository checkout)`;
  const dir = mkdtempSync(join(tmpdir(), 'virq-bench-c-'));
  try {
    const bin = join(dir, 'native-baseline');
    try {
      execFileSync('gcc', ['-O2', '-o', bin, C_SOURCE], { stdio: 'pipe' });
    } catch (err) {
      return `gcc failed: ${(err as Error).message.split('\n')[0]}`;
    }
    const out = execFileSync(bin, ['drain', String(fds), String(rounds), String(samples)], {
      encoding: 'utf8',
    });
    return (JSON.parse(out) as { ns: number[] }).ns;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the dispatcher over kernel eventfds for `durationMs`, then the C drain over as many. */
export async function runEventfdPhase(opts: {
  vectors: number;
  durationMs: number;
  warmupMs: number;
}): Promise<EventfdResult> {
  const dispatch = await runDispatcherPhase({
    loop: 'open',
    vectors: opts.vectors,
    threads: 1,
    mode: 'interrupt',
    triggers: 'eventfd',
    durationMs: opts.durationMs,
    warmupMs: opts.warmupMs,
  });
  dispatch.name = 'dispatch over kernel eventfds (interrupt)';
  dispatch.threads = '1 service worker (epoll) + 1 raiser thread writing eventfds + main idle';
  const dispatchNsPerEvent = Number(dispatch.extra?.workerCpuNsPerHandled);
  // ~0.3 µs per event and its write: 7 samples of 64 rounds over 256 fds take ~50 ms.
  const c = runCDrain(opts.vectors, Math.max(16, Math.round(16384 / opts.vectors)), 7);
  if (typeof c === 'string') {
    return {
      dispatch,
      dispatchNsPerEvent,
      cNsPerEvent: Number.NaN,
      cSamples: [],
      ratio: Number.NaN,
      skipped: c,
    };
  }
  const cNsPerEvent = median(c);
  return { dispatch, dispatchNsPerEvent, cNsPerEvent, cSamples: c, ratio: dispatchNsPerEvent / cNsPerEvent };
}
