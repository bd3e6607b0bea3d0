/**
 * Stopping a dispatcher while its deferred pool's threads still load their task module. piscina loads
 * it with require() (require(esm) on Node 20), and a terminate that lands while V8 instantiates the
 * module graph aborts the whole process ("FATAL ERROR: v8::Module::IsGraphAsync must be used on an
 * instantiated module"), so DeferredWork.close() waits until every pool thread reports its module
 * evaluated. Each case runs in a child process: what fails is the process, not an assertion.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

async function child(
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [new URL(script, import.meta.url).pathname, ...args],
      {
        timeout: 110_000,
        maxBuffer: 16 << 20,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; signal?: string; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: `${e.signal ?? ''} ${e.stderr ?? ''}`,
    };
  }
}

test.serial(
  'close() while the pool threads instantiate a slow module graph: the process survives every cycle',
  async (t) => {
    // Eight closes spread from a fifth of the measured load time to all of it: without the wait, the
    // first that lands in the instantiation (most of the load) aborts the child.
    const cycles = 8;
    const r = await child('./fixtures/pool-cycle-child.js', [String(cycles), '700']);
    t.is(r.code, 0, `the child exited cleanly (stderr: ${r.stderr.slice(-600)})`);
    const out = JSON.parse(r.stdout || '{}') as { cycles?: number; loadMs?: number };
    t.is(out.cycles, cycles, 'every create/close cycle completed');
    t.log(`graph load ${out.loadMs} ms`);
  },
);
