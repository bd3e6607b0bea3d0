/**
 * A thread of the latency phase. The kicker ('raiser' through the dispatcher, 'notifier' for the raw
 * baseline) stamps the time, kicks, and waits for the ACK before the next kick; in the sleeping
 * regime it first pauses `gapMs` so that the receiver has gone to sleep. The 'waiter' is the raw
 * baseline's receiver: Atomics.wait on BELL, record, ACK — nothing else between the wake and the stamp.
 */
import { workerData } from 'node:worker_threads';
import { VectorTable } from '@virq/core';
import { type LatencyData, LC } from './latency-shared.js';
import { currentTid } from './os-threads.js';
import { LatencyBuckets, makeClock } from './throughput-latency.js';

const d = workerData as LatencyData;
const control = new Int32Array(d.control);
const stamp = new Float64Array(d.stamp);
const clock = makeClock(d.epochMs);
const busy = d.regime === 'busy';
const pause = new Int32Array(new SharedArrayBuffer(4));

function ack(): void {
  Atomics.add(control, LC.ACK, 1);
  if (!busy) Atomics.notify(control, LC.ACK);
}

if (d.role === 'waiter') {
  const lat = new LatencyBuckets(d.latency, 1);
  // Each kick moves BELL on by one, and the next comes only after our ACK: `bell` is the value seen.
  // The notifier kicks only once TID_RECEIVER is set, after this load: had it kicked first, this
  // thread would take the kicked value as the starting one and wait for a kick that never comes.
  let bell = Atomics.load(control, LC.BELL);
  Atomics.store(control, LC.TID_RECEIVER, currentTid());
  while (Atomics.load(control, LC.STOP) === 0) {
    if (busy) {
      while (Atomics.load(control, LC.BELL) === bell && Atomics.load(control, LC.STOP) === 0);
    } else {
      Atomics.wait(control, LC.BELL, bell, 100);
    }
    const now = clock();
    const rung = Atomics.load(control, LC.BELL);
    if (rung === bell) continue; // timed out (to look at STOP)
    bell = rung;
    if (Atomics.load(control, LC.MEASURING) !== 0) lat.record(0, now - stamp[0]);
    ack();
  }
} else {
  control[LC.TID_KICKER] = currentTid();
  const table = d.role === 'raiser' ? VectorTable.attach(d.table!) : undefined;
  const index = d.index ?? 0;
  let kicks = 0;
  // The raw waiter must have read BELL before the first kick (see above); a raise needs no such wait.
  while (
    table === undefined &&
    Atomics.load(control, LC.TID_RECEIVER) === 0 &&
    Atomics.load(control, LC.STOP) === 0
  ) {
    Atomics.wait(pause, 0, 0, 1);
  }
  while (Atomics.load(control, LC.STOP) === 0) {
    if (!busy) Atomics.wait(pause, 0, 0, d.gapMs);
    const seen = Atomics.load(control, LC.ACK);
    stamp[0] = clock();
    if (table !== undefined) {
      table.raise(index, 0);
      kicks++;
    } else {
      Atomics.add(control, LC.BELL, 1);
      Atomics.notify(control, LC.BELL);
    }
    // Wait for the ACK; give up after 100 ms only to see STOP (a receiver stopped meanwhile).
    while (Atomics.load(control, LC.ACK) === seen && Atomics.load(control, LC.STOP) === 0) {
      if (!busy) Atomics.wait(control, LC.ACK, seen, 100);
    }
  }
  Atomics.store(control, LC.KICKS, kicks);
}
