// The bench's record of what the CPUs delivered: a real C loop (gcc at test time), pinned by taskset to
// each CPU of this machine, alone and all at once.
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import test from 'ava';
import { measureCpuCapacity } from '../src/cpu-speed.js';
import { compileC } from '../src/phase-eventfd.js';

test('measureCpuCapacity times the loop on every CPU, and all of them deliver between 0 and their count', async (t) => {
  const c = compileC();
  if (typeof c === 'string') throw new Error(`the C baseline did not compile: ${c}`);
  try {
    const cap = await measureCpuCapacity(c.bin);
    if (!cap) throw new Error('taskset or the spin loop failed');
    const n = Math.min(availableParallelism(), 16);
    t.is(cap.aloneMs.length, n);
    t.is(cap.togetherMs.length, n);
    for (const ms of [...cap.aloneMs, ...cap.togetherMs]) t.true(ms > 0 && ms < 10_000, `${ms} ms a pass`);
    const fastest = Math.min(...cap.aloneMs);
    t.is(
      cap.delivered,
      cap.togetherMs.reduce((s, v) => s + fastest / v, 0),
    );
    // each CPU, busy beside the others, runs at most a little faster than the fastest did alone
    t.true(cap.delivered > 0 && cap.delivered <= n * 1.25, `delivered ${cap.delivered} of ${n}`);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
});
