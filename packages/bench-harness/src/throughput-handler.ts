/**
 * The handler module the throughput harness gives the dispatcher. Per event it records the
 * raise → handler latency, and in the closed loop re-raises its vector through core's vector table
 * (the device answering each handled interrupt with the next one).
 */
import { VectorTable, type VectorTableHandle } from '@virq/core';
import type { HandlerContext } from '@virq/dispatch';
import { currentTid } from './os-threads.js';
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
  /** Int32 words: CLOSED (re-raise when handled), STOP (stop re-raising), MEASURING, STARTED. */
  control: SharedArrayBuffer;
  /**
   * Float64 slots ({@link countSlots}): per service worker its re-raises, then the raiser thread's
   * raises, then per service worker its kernel tid, then the raiser's tid. Each is written by its
   * one thread; the counts are read once those threads have stopped.
   */
  counts: SharedArrayBuffer;
}

/** Control word indexes. */
export const CONTROL = { CLOSED: 0, STOP: 1, MEASURING: 2, STARTED: 3 } as const;

/** Float64 slots of `counts` for `workers` service workers. */
export function countSlots(workers: number): number {
  return 2 * workers + 2;
}

interface State {
  table: VectorTable;
  index: number;
  stamps: Float64Array;
  lat: LatencyBuckets;
  control: Int32Array;
  clock: () => number;
  counts: Float64Array;
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
    counts: new Float64Array(d.counts),
  };
}

/** Top half: note the latency; in the closed loop, raise the vector again. */
export function handler(vector: number, ctx: HandlerContext): boolean {
  if (st === undefined) {
    st = init(ctx.data as HandlerData);
    st.counts[st.lat.regions + 1 + ctx.workerId] = currentTid();
  }
  const { stamps, control, clock } = st;
  const now = clock();
  const stamp = stamps[vector];
  if (stamp > 0 && control[CONTROL.MEASURING] !== 0) st.lat.record(ctx.workerId, now - stamp);
  if (control[CONTROL.CLOSED] !== 0 && control[CONTROL.STOP] === 0) {
    stamps[vector] = now;
    st.table.raise(st.index, vector);
    st.counts[ctx.workerId]++;
  } else {
    stamps[vector] = 0;
  }
  return false;
}
