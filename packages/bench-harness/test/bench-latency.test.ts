import test from 'ava';
import fc from 'fast-check';
import { BUCKETS, bucketOf, bucketValue, LatencyBuckets, summarize } from '../src/throughput-latency.js';

// The exact percentile of a sample, HdrHistogram's way: the smallest value with at least p% of the
// sample at or below it.
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

test('bucketOf and bucketValue agree: each value lands in the bucket whose range holds it', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (v) => {
      const b = bucketOf(v);
      t.true(b >= 0 && b < BUCKETS);
      t.true(bucketValue(b) <= v, `lower bound of ${v}`);
      if (b + 1 < BUCKETS) t.true(bucketValue(b + 1) > v, `upper bound of ${v}`);
    }),
  );
});

test('summarize reports every percentile at or above the exact one, within 0.1% + one unit', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 1, maxLength: 300 }),
      fc.integer({ min: 1, max: 3 }),
      (values, regions) => {
        const lat = LatencyBuckets.create(regions);
        for (let i = 0; i < values.length; i++) lat.record(i % regions, values[i]);
        const s = summarize(lat.totals());
        const sorted = [...values].sort((a, b) => a - b);
        t.is(s.count, values.length);
        for (const [p, got] of [
          [50, s.p50],
          [99, s.p99],
          [99.9, s.p999],
          [100, s.max],
        ] as const) {
          const want = exact(sorted, p) / 10;
          t.true(got >= want - 0.05, `p${p}: ${got} µs >= ${want} µs`);
          t.true(got <= want * 1.001 + 0.1, `p${p}: ${got} µs close to ${want} µs`);
        }
      },
    ),
  );
});

test('summarize of no samples is all zeros with an empty distribution', (t) => {
  const s = summarize(LatencyBuckets.create(2).totals());
  t.deepEqual(s, { count: 0, p50: 0, p99: 0, p999: 0, max: 0, distribution: [] });
});
