/**
 * Latency recording that works from any thread: a log-linear bucket array in a SharedArrayBuffer
 * (3 significant digits, like HdrHistogram), one region per recording thread so two threads never
 * write the same cache line. The main thread sums the regions and reads percentiles off the buckets
 * (no histogram library: the buckets already are one).
 *
 * Times are in units of 0.1 µs since a shared epoch (`clock()` below), so every thread's stamps are
 * comparable: performance.now() is per-thread, performance.timeOrigin + now() is not.
 */
/** Values below this are their own bucket (exact). */
const LINEAR = 2048;
/** Sub-buckets per power of two above LINEAR. */
const SUB = 1024;
/** Buckets per region: enough for 2^31 units (~214 s). */
export const BUCKETS = LINEAR + 21 * SUB;

/** Bucket index of a value in 0.1 µs units. */
export function bucketOf(v: number): number {
  if (v < LINEAR) return v < 0 ? 0 : v | 0;
  const x = v >= 2 ** 31 ? 2 ** 31 - 1 : v | 0;
  const e = 31 - Math.clz32(x) - 10;
  return e * SUB + (x >> e);
}

/** Representative value of a bucket (its lower bound). */
export function bucketValue(b: number): number {
  if (b < LINEAR) return b;
  const e = Math.floor(b / SUB) - 1;
  return (b - e * SUB) * 2 ** e;
}

/** Shared latency buckets for `regions` recording threads. */
export class LatencyBuckets {
  readonly counts: Int32Array;
  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly regions: number,
  ) {
    this.counts = new Int32Array(buffer);
  }

  static create(regions: number): LatencyBuckets {
    return new LatencyBuckets(new SharedArrayBuffer(regions * BUCKETS * 4), regions);
  }

  /** Records one value (0.1 µs units) into `region`; single writer per region. */
  record(region: number, v: number): void {
    this.counts[region * BUCKETS + bucketOf(v)]++;
  }

  clear(): void {
    this.counts.fill(0);
  }

  /** Sums every region: count per bucket. */
  totals(): Float64Array {
    const sum = new Float64Array(BUCKETS);
    for (let r = 0; r < this.regions; r++) {
      for (let b = 0; b < BUCKETS; b++) sum[b] += Atomics.load(this.counts, r * BUCKETS + b);
    }
    return sum;
  }
}

/** Latency percentiles in microseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** The distribution, for plots: [percentile, µs] from p0 up to p99.99 and the max. */
  distribution: [number, number][];
}

/** Percentiles sampled into {@link LatencySummary.distribution}: dense in the tail, where it matters. */
const DISTRIBUTION_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

/** Highest value (0.1 µs units) a bucket holds: HdrHistogram's "highest equivalent value". */
function bucketTop(b: number): number {
  return b + 1 < BUCKETS ? bucketValue(b + 1) - 1 : bucketValue(b);
}

/**
 * Reads p50/p99/p999/max (µs) from summed buckets of 0.1 µs units ({@link LatencyBuckets.totals}).
 * A percentile is the top of the bucket where the running count reaches it, as HdrHistogram reports.
 */
export function summarize(totals: Float64Array): LatencySummary {
  const us = (units: number) => Math.round(units) / 10;
  let count = 0;
  let last = -1;
  for (let b = 0; b < totals.length; b++) {
    if (totals[b] > 0) last = b;
    count += totals[b];
  }
  const at = (p: number): number => {
    if (count === 0) return 0;
    const want = Math.max(1, Math.ceil((p / 100) * count));
    let seen = 0;
    for (let b = 0; b < totals.length; b++) {
      seen += totals[b];
      if (seen >= want) return us(bucketTop(b));
    }
    return us(bucketTop(last));
  };
  return {
    count,
    p50: at(50),
    p99: at(99),
    p999: at(99.9),
    max: last < 0 ? 0 : us(bucketTop(last)),
    distribution: count > 0 ? DISTRIBUTION_PERCENTILES.map((p) => [p, at(p)]) : [],
  };
}

/**
 * A clock in 0.1 µs units since `epoch` (a performance.timeOrigin-based ms value shared by all
 * threads of a run).
 */
export function makeClock(epochMs: number): () => number {
  const base = performance.timeOrigin - epochMs;
  return () => (base + performance.now()) * 1e4;
}
