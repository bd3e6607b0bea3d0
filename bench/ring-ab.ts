// A/B of two builds of atomics-sync's rings, side by side in one process: SpscRing and MpscRing push+pop
// pairs (one thread, ring never full), 5M pairs a sample, 7 samples per build interleaved (ABAB…, the
// order flipped every round) so load drifts hit both; prints the median, min–max and new ÷ old.
//
// Usage: node dist/ring-ab.js <old atomics-sync dir> <new atomics-sync dir>
//   e.g. a worktree of the commit before the change (built) against this checkout's packages/atomics-sync.
// docs/decisions.md, "Ring positions wrap", has the run that motivated it.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type RingCtor = {
  byteLength(cap: number): number;
  init(
    buf: SharedArrayBuffer,
    offset: number,
    cap: number,
  ): { push(v: number): boolean; pop(): number | undefined };
};
type Build = { SpscRing: RingCtor; MpscRing: RingCtor };

const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir || !newDir) {
  console.error('usage: node dist/ring-ab.js <old atomics-sync dir> <new atomics-sync dir>');
  process.exit(2);
}
const load = async (dir: string) =>
  (await import(pathToFileURL(resolve(dir, 'dist/src/index.js')).href)) as Build;
const builds: Record<'old' | 'new', Build> = { old: await load(oldDir), new: await load(newDir) };
const PAIRS = 5e6;
const SAMPLES = 7;

function sample(C: RingCtor): number {
  const r = C.init(new SharedArrayBuffer(C.byteLength(1024)), 0, 1024);
  let sink = 0;
  for (let i = 0; i < 1e5; i++) {
    r.push(i);
    sink ^= r.pop()!;
  }
  const t0 = performance.now();
  for (let i = 0; i < PAIRS; i++) {
    r.push(i);
    sink ^= r.pop()!;
  }
  const ns = ((performance.now() - t0) * 1e6) / PAIRS;
  if (sink === 0.5) console.log(sink); // keep the loop's result alive
  return ns;
}

const kinds = ['SpscRing', 'MpscRing'] as const;
const ns: Record<string, number[]> = {};
for (let k = 0; k < SAMPLES; k++) {
  for (const b of k % 2 ? (['old', 'new'] as const) : (['new', 'old'] as const)) {
    for (const kind of kinds) {
      const key = `${kind} ${b}`;
      ns[key] = [...(ns[key] ?? []), sample(builds[b][kind])];
    }
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const kind of kinds) {
  const o = ns[`${kind} old`];
  const n = ns[`${kind} new`];
  const f = (a: number[]) =>
    `${median(a).toFixed(1)} ns (${Math.min(...a).toFixed(1)} – ${Math.max(...a).toFixed(1)})`;
  console.log(`${kind} push+pop: old ${f(o)}, new ${f(n)}, new ÷ old ${(median(n) / median(o)).toFixed(3)}`);
}
