// The far side of the cross-thread parts of atomics-sync.bench: echoes ping-pongs (raw Atomics and
// Doorbell) and consumes ring / postMessage streams. One scenario per worker, chosen by workerData.
import { parentPort, workerData } from 'node:worker_threads';
import { Doorbell, MpscRing, SpscRing } from 'atomics-sync';
import { DONE, READY, type Scenario, STOP, STOP_ID } from './atomics-sync-protocol.js';

function signal(ctl: Int32Array, index: number, value: number): void {
  Atomics.store(ctl, index, value);
  Atomics.notify(ctl, index);
}

function rawEcho(words: Int32Array, ctl: Int32Array, spin: boolean): void {
  // words[0]: pings sent by main, words[1]: pongs sent back. Each side waits for the other's counter to
  // move; the sleeping variant always notifies (the plain futex ping-pong baseline).
  let seen = 0;
  for (;;) {
    if (spin) {
      while (Atomics.load(words, 0) === seen) {}
    } else {
      while (Atomics.load(words, 0) === seen) Atomics.wait(words, 0, seen);
    }
    seen = Atomics.load(words, 0);
    if (Atomics.load(ctl, STOP) !== 0) return;
    Atomics.add(words, 1, 1);
    if (!spin) Atomics.notify(words, 1);
  }
}

function doorbellEcho(ping: Doorbell, pong: Doorbell, spin: number | undefined): void {
  const out = new Int32Array(2);
  for (;;) {
    ping.wait(Number.POSITIVE_INFINITY, spin);
    const n = ping.drain(out);
    for (let i = 0; i < n; i++) if (out[i] === STOP_ID) return;
    if (n > 0) pong.ring(0);
  }
}

function ringConsume(ring: SpscRing | MpscRing, total: number, batch: number): number {
  const out = new Int32Array(Math.max(batch, 1));
  let got = 0;
  let sum = 0;
  while (got < total) {
    if (batch > 1) {
      const n = ring.popBatch(out);
      for (let i = 0; i < n; i++) sum = (sum + out[i]) | 0;
      got += n;
      if (n === 0) ring.waitReadable();
    } else {
      const v = ring.pop();
      if (v === undefined) ring.waitReadable();
      else {
        sum = (sum + v) | 0;
        got++;
      }
    }
  }
  return sum;
}

const sc = workerData as Scenario;
const ctl = new Int32Array(sc.ctl);
switch (sc.kind) {
  case 'raw-sleep':
  case 'raw-spin':
    signal(ctl, READY, 1);
    rawEcho(new Int32Array(sc.words), ctl, sc.kind === 'raw-spin');
    break;
  case 'doorbell':
    signal(ctl, READY, 1);
    doorbellEcho(Doorbell.from(sc.ping), Doorbell.from(sc.pong), sc.spin);
    break;
  case 'spsc':
  case 'mpsc': {
    const ring = sc.kind === 'spsc' ? SpscRing.from(sc.ring) : MpscRing.from(sc.ring);
    signal(ctl, READY, 1);
    const sum = ringConsume(ring, sc.total, sc.batch);
    signal(ctl, DONE, 1);
    parentPort!.postMessage({ sum });
    break;
  }
  case 'postmessage': {
    let got = 0;
    let sum = 0;
    parentPort!.on('message', (v: number) => {
      sum = (sum + v) | 0;
      if (++got === sc.total) {
        signal(ctl, DONE, 1);
        parentPort!.postMessage({ sum });
        parentPort!.close();
      }
    });
    signal(ctl, READY, 1);
    break;
  }
}
