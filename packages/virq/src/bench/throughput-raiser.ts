/**
 * Open-loop load: a thread that raises every vector round robin as fast as it can until told to
 * stop, stamping a vector's first raise since it was last handled (for latency).
 */
import { workerData } from 'node:worker_threads';
import { VectorTable } from '@virq/core';
import { CONTROL, type HandlerData } from './throughput-handler.js';
import { makeClock } from './throughput-latency.js';

const d = workerData as HandlerData & { vectors: number };
const table = VectorTable.attach(d.table);
const stamps = new Float64Array(d.stamps);
const control = new Int32Array(d.control);
const clock = makeClock(d.epochMs);
while (Atomics.load(control, CONTROL.STOP) === 0) {
  for (let v = 0; v < d.vectors; v++) {
    if (stamps[v] === 0) stamps[v] = clock();
    table.raise(d.index, v);
  }
}
