/**
 * The latency phase's handler module: records raise → handler time and acknowledges, so the raiser
 * kicks again. Records its thread's tid on the first call (the phase pins it).
 */
import type { HandlerContext } from '@virq/dispatch';
import { type LatencyData, LC } from './latency-shared.js';
import { currentTid } from './os-threads.js';
import { LatencyBuckets, makeClock } from './throughput-latency.js';

let st:
  | { control: Int32Array; stamp: Float64Array; lat: LatencyBuckets; clock: () => number; busy: boolean }
  | undefined;

/** Top half: time since the raise's stamp, then ACK. */
export function handler(_vector: number, ctx: HandlerContext): boolean {
  if (st === undefined) {
    const d = ctx.data as LatencyData;
    st = {
      control: new Int32Array(d.control),
      stamp: new Float64Array(d.stamp),
      lat: new LatencyBuckets(d.latency, 1),
      clock: makeClock(d.epochMs),
      busy: d.regime === 'busy',
    };
    st.control[LC.TID_RECEIVER] = currentTid();
  }
  const now = st.clock();
  if (Atomics.load(st.control, LC.MEASURING) !== 0) st.lat.record(0, now - st.stamp[0]);
  Atomics.add(st.control, LC.ACK, 1);
  if (!st.busy) Atomics.notify(st.control, LC.ACK);
  return false;
}
