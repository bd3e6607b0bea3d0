/**
 * Open-loop load: a thread that raises every vector as fast as it can until told to stop, a batch
 * of all of them per VectorTable.raiseMany call (one in-flight section per batch, as a device
 * raising many queues at once would), stamping each vector's first raise since it was last handled
 * (once per batch: the open loop's latency is batch-grained). It counts the raises it made, so the
 * phase can check core's accounting against them exactly.
 */
import { workerData } from 'node:worker_threads';
import { VectorTable } from '@virq/core';
import { currentTid } from './os-threads.js';
import { CONTROL, type HandlerData } from './throughput-handler.js';
import { makeClock } from './throughput-latency.js';

const d = workerData as HandlerData & { vectors: number; raiserSlot: number; tidSlot: number };
const table = VectorTable.attach(d.table);
const stamps = new Float64Array(d.stamps);
const control = new Int32Array(d.control);
const counts = new Float64Array(d.counts);
const clock = makeClock(d.epochMs);
const all = Int32Array.from({ length: d.vectors }, (_, v) => v);
counts[d.tidSlot] = currentTid();
let raised = 0;
for (let first = true; first || Atomics.load(control, CONTROL.STOP) === 0; ) {
  const now = clock();
  for (let v = 0; v < all.length; v++) if (stamps[v] === 0) stamps[v] = now;
  table.raiseMany(d.index, all);
  raised += all.length;
  if (first) {
    // After the first batch, so that a phase always sees raises however late this thread started.
    first = false;
    Atomics.store(control, CONTROL.STARTED, 1);
    Atomics.notify(control, CONTROL.STARTED);
  }
}
counts[d.raiserSlot] = raised;
