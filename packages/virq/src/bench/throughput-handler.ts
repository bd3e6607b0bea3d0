/**
 * The handler module the throughput harness gives the dispatcher. Per event it records the
 * raise → handler latency, and in the closed loop re-raises its vector through core's vector table
 * (the device answering each handled interrupt with the next one).
 */
import { VectorTable, type VectorTableHandle } from '@virq/core';
import type { HandlerContext } from '@virq/dispatch';
import { LatencyBuckets, makeClock } from './throughput-latency.js';

/** What the harness passes as the dispatcher's `data`. */
export interface HandlerData {
  table: VectorTableHandle;
  index: number;
  /** Per-vector raise stamps (Float64, clock units; 0 = none outstanding). */
  stamps: SharedArrayBuffer;
  /** Latency buckets, one region per service worker. */
  latency: SharedArrayBuffer;
  regions: number;
  epochMs: number;
  /** Int32 words: CLOSED (re-raise when handled), STOP (stop re-raising), MEASURING. */
  control: SharedArrayBuffer;
}

/** Control word indexes. */
export const CONTROL = { CLOSED: 0, STOP: 1, MEASURING: 2 } as const;

interface State {
  table: VectorTable;
  index: number;
  stamps: Float64Array;
  lat: LatencyBuckets;
  control: Int32Array;
  clock: () => number;
}

let st: State | undefined;

function init(d: HandlerData): State {
  return {
    table: VectorTable.attach(d.table),
    index: d.index,
    stamps: new Float64Array(d.stamps),
    lat: new LatencyBuckets(d.latency, d.regions),
    control: new Int32Array(d.control),
    clock: makeClock(d.epochMs),
  };
}

/** Top half: note the latency; in the closed loop, raise the vector again. */
export function handler(vector: number, ctx: HandlerContext): boolean {
  st ??= init(ctx.data as HandlerData);
  const { stamps, control, clock } = st;
  const now = clock();
  const stamp = stamps[vector];
  if (stamp > 0 && control[CONTROL.MEASURING] !== 0) st.lat.record(ctx.workerId, now - stamp);
  if (control[CONTROL.CLOSED] !== 0 && control[CONTROL.STOP] === 0) {
    stamps[vector] = now;
    st.table.raise(st.index, vector);
  } else {
    stamps[vector] = 0;
  }
  return false;
}
