import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ExecutionContext } from 'ava';
import type { Epoll } from '../src/index.js';

/** fd number → what it points at, for this process, right now. */
export function fdSnapshot(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      out.set(Number(name), readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the directory fd readdir used is already closed by the time we look at it
    }
  }
  return out;
}

/** Asserts that every fd open now was open at `before` (and points at the same thing). */
export function assertNoNewFds(t: ExecutionContext, before: Map<number, string>): void {
  const leaked: string[] = [];
  for (const [fd, target] of fdSnapshot()) {
    if (before.get(fd) !== target) leaked.push(`${fd} -> ${target}`);
  }
  t.deepEqual(leaked, [], 'fds opened by the test are all closed');
}

/**
 * Runs `body` and then checks /proc/self/fd: nothing it opened may still be open. Tests using this must
 * be serial (concurrent tests of the same file would see each other's fds).
 */
export async function noLeaks(t: ExecutionContext, body: () => unknown | Promise<unknown>): Promise<void> {
  const before = fdSnapshot();
  await body();
  assertNoNewFds(t, before);
}

/** O_CLOEXEC as /proc/self/fdinfo shows it (octal flags). */
export function isCloexec(fd: number): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return flags !== null && (Number.parseInt(flags[1], 8) & 0o2000000) !== 0;
}

/** Starts a compiled fixture (test/fixtures/<name>.ts → dist/test/fixtures/<name>.js). */
export function startWorker(name: string, workerData?: unknown): Worker {
  return new Worker(new URL(`./fixtures/${name}.js`, import.meta.url), { workerData });
}

/** Resolves with the worker's exit code. */
export function exited(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
}

/** Resolves with the next message the worker posts. */
export function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** Drains everything ready (timeout 0) into a tag → summed count map. */
export function drainAll(ep: Epoll, capacity = 1024): Map<number, bigint> {
  const tags = new Int32Array(capacity);
  const counts = new BigUint64Array(capacity);
  const out = new Map<number, bigint>();
  for (;;) {
    const n = ep.drain(tags, counts, 0);
    if (n === 0) return out;
    for (let i = 0; i < n; i++) out.set(tags[i], (out.get(tags[i]) ?? 0n) + counts[i]);
  }
}
