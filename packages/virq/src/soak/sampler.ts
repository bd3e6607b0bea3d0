/**
 * What the soak samples every second — memory (RSS, V8 heap, external), open fds, OS threads — and
 * the growth arithmetic its verdict uses.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One sample. */
export interface Sample {
  /** ms since the soak started. */
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  threads: number;
}

/** Samples this process now. */
export function sample(t0: number): Sample {
  const m = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return {
    t: Math.round(performance.now() - t0),
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    // readdir's own directory fd is in the listing: not one of ours
    fds: readdirSync('/proc/self/fd').length - 1,
    threads,
  };
}

/** Memory growth of one metric, between two idle samples (no dispatcher running, after a full GC). */
export interface Growth {
  metric: 'rss' | 'heapUsed' | 'external';
  /** At the first idle point past the warm-up. */
  afterWarmup: number;
  /** At the end. */
  end: number;
  pct: number;
}

/**
 * Growth after warm-up for RSS, heap and external memory, from the idle samples taken between
 * dispatchers: what a stopped dispatcher leaves behind is what a leak is, and a running one's worker
 * heaps would only add noise. The first idle sample past `warmupMs` is the baseline (the first one
 * at all if none is that late), the last one the end.
 */
export function growth(idles: Sample[], warmupMs: number): Growth[] {
  const base = idles.find((s) => s.t >= warmupMs) ?? idles[0];
  const end = idles[idles.length - 1];
  return (['rss', 'heapUsed', 'external'] as const).map((metric) => {
    const a = base[metric];
    const b = end[metric];
    return { metric, afterWarmup: a, end: b, pct: a > 0 ? ((b - a) / a) * 100 : 0 };
  });
}
