/**
 * Baseline 2's consumer: one kernel eventfd per vector in an epoll set, woken once per event (a
 * drain buffer of one), acknowledging each through another eventfd the producer blocks on.
 */
import { workerData } from 'node:worker_threads';
import { Epoll, EventFd } from '@virq/native';
import { LatencyBuckets, makeClock } from './throughput-latency.js';

interface Data {
  fds: number[];
  ackFd: number;
  wakeFd: number;
  stamps: SharedArrayBuffer;
  latency: SharedArrayBuffer;
  epochMs: number;
  control: SharedArrayBuffer;
}

const d = workerData as Data;
const epoll = new Epoll({ wakeFd: d.wakeFd });
for (let v = 0; v < d.fds.length; v++) epoll.add(d.fds[v], v);
const ack = EventFd.fromFd(d.ackFd);
const tags = new Int32Array(1);
const counts = new BigUint64Array(1);
const stamps = new Float64Array(d.stamps);
const control = new Int32Array(d.control);
const lat = new LatencyBuckets(d.latency, 1);
const clock = makeClock(d.epochMs);
for (;;) {
  const n = epoll.drain(tags, counts, -1);
  if (Atomics.load(control, 1) !== 0) break;
  if (n === 0 || tags[0] < 0) continue;
  if (Atomics.load(control, 2) !== 0) lat.record(0, clock() - stamps[tags[0]]);
  ack.write(1n);
}
ack.close();
epoll.close();
