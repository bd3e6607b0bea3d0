/**
 * The soak's storm: a thread that raises vectors of the device as fast as it can, in a shuffled
 * order, counting per vector what the device accepted (everything but 'unrouted') until told to stop.
 */
import { workerData } from 'node:worker_threads';
import { VectorTable, type VectorTableHandle } from '@virq/core';

/** What the soak passes to the raiser. */
export interface RaiserData {
  table: VectorTableHandle;
  index: number;
  vectors: number;
  /** Float64 per vector: raises accepted (this thread is the only writer). */
  accepted: SharedArrayBuffer;
  /** Int32 word 0: nonzero = stop. */
  stop: SharedArrayBuffer;
}

const d = workerData as RaiserData;
const table = VectorTable.attach(d.table);
const accepted = new Float64Array(d.accepted);
const stop = new Int32Array(d.stop);
const order = Array.from({ length: d.vectors }, (_, i) => i);
let s = 0x9e3779b9;
while (Atomics.load(stop, 0) === 0) {
  for (let i = order.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    const x = order[i];
    order[i] = order[j];
    order[j] = x;
  }
  for (let r = 0; r < 16; r++) {
    for (const v of order) if (table.raise(d.index, v) !== 'unrouted') accepted[v]++;
  }
}
