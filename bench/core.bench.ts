// @virq/core: SET_IRQS and raise→signal rates, in-memory SharedEventFd triggers vs kernel eventfds
// (@virq/native), in the same run. Every figure is reported with its ratio to a baseline measured here:
//
// 1. raise→signal, per interrupt: SoftDevice.raise(MSI-X) (mask check, accounting, signal through the
//    vector table) against the bare SharedEventFd.write(1) it wraps; then the same raise with a kernel
//    eventfd trigger (one write(2) per raise) against the in-memory one.
// 2. raise + consume, per interrupt: the full round trip a dispatcher does (raise, read the trigger,
//    recordConsumed), in-memory vs kernel.
// 3. a raise held by a mask (the extension's pending bit): coalesced raise vs an unmasked one.
// 3b. the accounting alone, per interrupt: VectorTable.raise on a masked vector whose held interrupt
//    is taken at once (takeHeld) and recorded (recordConsumed 1) — the counter work of a service
//    worker's closed loop with no trigger in the way — against the bare write.
// 4. SET_IRQS, per call: enable+disable of MSI-X with one eventfd, and rebinding a block of 32 vectors;
//    kernel eventfds cost a dup(2)/close(2) per bind (the eventfd_ctx reference) vs a refcount.
//
// Harness: a hand-rolled calibrated loop (as native.bench.ts): each sample times a fixed number of
// operations with process.hrtime, 7 samples after a warm-up, median reported. Main thread only.
//
// Usage: node dist/core.bench.js [--quick]   (needs the built addon for the kernel columns)

import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  VFIO_IRQ_SET_DATA_NONE as NONE,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
} from '@virq/core';
import { EventFd } from '@virq/native';

const quick = process.argv.includes('--quick');
const SAMPLES = quick ? 3 : 7;
const OPS = quick ? 20_000 : 200_000;
const SETS = quick ? 500 : 5_000;
const BLOCK = 32;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** ns per op of `body(n)`, which must perform n operations. */
function measure(n: number, body: (n: number) => void): number {
  body(Math.max(1, n >> 3));
  const ns: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint();
    body(n);
    ns.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(ns);
}

/**
 * Interleaved A/B: alternates samples of `base` and `body` (n operations each) and returns both
 * medians and the median of the per-pair ratios, so a machine whose load drifts (other processes on
 * 2 vCPUs) moves both sides of each ratio alike.
 */
function measurePair(
  n: number,
  base: (n: number) => void,
  body: (n: number) => void,
): { base: number; body: number; ratio: number } {
  base(Math.max(1, n >> 3));
  body(Math.max(1, n >> 3));
  const a: number[] = [];
  const b: number[] = [];
  const r: number[] = [];
  for (let s = 0; s < 3 * SAMPLES; s++) {
    let t0 = process.hrtime.bigint();
    base(n);
    const x = Number(process.hrtime.bigint() - t0) / n;
    t0 = process.hrtime.bigint();
    body(n);
    const y = Number(process.hrtime.bigint() - t0) / n;
    a.push(x);
    b.push(y);
    r.push(y / x);
  }
  return { base: median(a), body: median(b), ratio: median(r) };
}

type Trigger = SharedEventFd | EventFd;
const makeShared = (): Trigger => SharedEventFd.create({ nonblock: true });
const makeKernel = (): Trigger => EventFd.create({ nonblock: true });
const drain = (e: Trigger): void => {
  if (e instanceof SharedEventFd) e.tryRead();
  else {
    try {
      e.read();
    } catch {
      // EAGAIN: nothing to drain
    }
  }
};

function bareWrite(): number {
  const e = SharedEventFd.create({ nonblock: true });
  const r = measure(OPS, (n) => {
    for (let i = 0; i < n; i++) e.write(1);
    e.tryRead();
  });
  e.close();
  return r;
}

function raise(make: () => Trigger, masked = false): number {
  const d = new SoftDevice({ msix: { vectors: 1, maskable: true } });
  const e = make();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  if (masked) d.vectorTable.mask(MSIX, 0);
  const r = measure(OPS, (n) => {
    for (let i = 0; i < n; i++) d.raise(MSIX, 0);
    drain(e);
  });
  d.close();
  e.close();
  return r;
}

/** The counter work per interrupt, interleaved with the bare write (see measurePair). */
function accounting(): { base: number; body: number; ratio: number } {
  const d = new SoftDevice({ msix: { vectors: 1, maskable: true } });
  const e = SharedEventFd.create({ nonblock: true });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  const t = d.vectorTable;
  t.mask(MSIX, 0);
  const w = SharedEventFd.create({ nonblock: true });
  const r = measurePair(
    OPS,
    (n) => {
      for (let i = 0; i < n; i++) w.write(1);
      w.tryRead();
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        t.raise(MSIX, 0);
        if (t.takeHeld(MSIX, 0)) t.recordConsumed(MSIX, 0, 1);
      }
    },
  );
  d.close();
  e.close();
  w.close();
  return r;
}

function raiseConsume(make: () => Trigger): number {
  const d = new SoftDevice({ msix: { vectors: 1 } });
  const e = make();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  const t = d.vectorTable;
  const r = measure(OPS >> 1, (n) => {
    for (let i = 0; i < n; i++) {
      d.raise(MSIX, 0);
      t.consume(MSIX, 0);
    }
  });
  d.close();
  e.close();
  return r;
}

function enableDisable(make: () => Trigger): number {
  const d = new SoftDevice({ msix: { vectors: 1 } });
  const e = make();
  const r = measure(SETS, (n) => {
    for (let i = 0; i < n; i++) {
      d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
      d.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: 0 });
    }
  });
  d.close();
  e.close();
  return r;
}

function setBlock(make: () => Trigger): number {
  const d = new SoftDevice({ msix: { vectors: BLOCK } });
  const fds = Array.from({ length: BLOCK }, make);
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: BLOCK, data: fds });
  const r = measure(SETS >> 2, (n) => {
    for (let i = 0; i < n; i++)
      d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: BLOCK, data: fds });
  });
  d.close();
  for (const f of fds) f.close();
  return r;
}

const fmt = (ns: number): string => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

const write = bareWrite();
const rs = raise(makeShared);
const rk = raise(makeKernel);
const rm = raise(makeShared, true);
const acc = accounting();
const cs = raiseConsume(makeShared);
const ck = raiseConsume(makeKernel);
const es = enableDisable(makeShared);
const ek = enableDisable(makeKernel);
const bs = setBlock(makeShared);
const bk = setBlock(makeKernel);

const rows: Array<[string, string, string, string]> = [
  ['bare SharedEventFd.write(1)  [baseline A]', fmt(write), '1.00×', `${(1e3 / write).toFixed(1)} M/s`],
  ['raise→signal, SharedEventFd', fmt(rs), `${ratio(rs, write)} of A`, `${(1e3 / rs).toFixed(1)} M/s`],
  ['raise→signal, kernel eventfd', fmt(rk), `${ratio(rk, rs)} of shared`, `${(1e3 / rk).toFixed(2)} M/s`],
  [
    'raise while masked (held/coalesced)',
    fmt(rm),
    `${ratio(rm, rs)} of unmasked`,
    `${(1e3 / rm).toFixed(1)} M/s`,
  ],
  [
    'raise+takeHeld+recordConsumed (counters)',
    fmt(acc.body),
    `${acc.ratio.toFixed(2)}× of A, interleaved`,
    `${(1e3 / acc.body).toFixed(1)} M/s`,
  ],
  ['raise+consume, SharedEventFd', fmt(cs), `${ratio(cs, rs)} of raise`, `${(1e3 / cs).toFixed(2)} M/s`],
  ['raise+consume, kernel eventfd', fmt(ck), `${ratio(ck, cs)} of shared`, `${(1e3 / ck).toFixed(2)} M/s`],
  ['setIrqs enable+disable, SharedEventFd', fmt(es), '1.00× [baseline B]', `${(1e6 / es).toFixed(1)} k/s`],
  [
    'setIrqs enable+disable, kernel eventfd',
    fmt(ek),
    `${ratio(ek, es)} of B`,
    `${(1e6 / ek).toFixed(1)} k/s`,
  ],
  [
    `setIrqs rebind ${BLOCK} vectors, SharedEventFd`,
    fmt(bs),
    `${ratio(bs, es)} of B`,
    `${(1e6 / bs).toFixed(1)} k/s`,
  ],
  [
    `setIrqs rebind ${BLOCK} vectors, kernel eventfd`,
    fmt(bk),
    `${ratio(bk, bs)} of shared`,
    `${(1e6 / bk).toFixed(1)} k/s`,
  ],
];

console.log(`@virq/core (main thread, ${SAMPLES} samples, median${quick ? ', --quick' : ''})`);
const w = [Math.max(...rows.map((r) => r[0].length)), 10, 24, 12];
for (const r of rows)
  console.log(`  ${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padEnd(w[2])}  ${r[3]}`);
console.log(
  JSON.stringify({
    bench: 'core',
    nsPerOp: {
      write,
      raiseShared: rs,
      raiseKernel: rk,
      raiseMasked: rm,
      accounting: acc.body,
      accountingPerWrite: acc.ratio,
      consumeShared: cs,
      consumeKernel: ck,
    },
    nsPerCall: { enableDisableShared: es, enableDisableKernel: ek, block32Shared: bs, block32Kernel: bk },
  }),
);
