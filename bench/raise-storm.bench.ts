// The open loop's raiser, alone on the main thread: VectorTable.raiseMany over 256 MSI-X vectors of a
// SoftDevice bound to SharedEventFds, in the three states a storm finds its vectors in:
//   masked   masked with the PBA bit set (NAPI polling them): every raise folds into the held one
//   routed   unmasked, the trigger's count already non-zero (the consumer is behind): count + 1
//   drained  unmasked, every trigger read after each batch (count 0 → 1: a wake per raise)
// Each prints ns per raise (median, min, max of 5 samples) and checks the accounting afterwards.
//
// Wall-clock time moves with the machine's load; for an A/B of a change, count instructions, which
// do not: run under callgrind at two batch counts and divide the difference by the raises between
// them (valgrind --tool=callgrind node dist/raise-storm.bench.js masked 1000, then 5000:
// (Ir(5000) - Ir(1000)) / (4000 * 256) instructions per raise).
//
// Usage: node dist/raise-storm.bench.js [masked|routed|drained|all] [batches, default 20000]

import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
} from '@virq/core';

const V = 256;
const STATES = ['masked', 'routed', 'drained'] as const;
const which = process.argv[2] ?? 'all';
const batches = Number(process.argv[3] ?? 20_000);
const SAMPLES = 5;
const all = Int32Array.from({ length: V }, (_, v) => v);

for (const state of STATES) {
  if (which !== 'all' && which !== state) continue;
  const d = new SoftDevice({ msix: { vectors: V } });
  const fds = Array.from({ length: V }, () => SharedEventFd.create({ nonblock: true }));
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: V, data: fds });
  const t = d.vectorTable;
  if (state === 'masked') for (let v = 0; v < V; v++) t.mask(MSIX, v);
  const run = (n: number) => {
    for (let b = 0; b < n; b++) {
      t.raiseMany(MSIX, all);
      if (state === 'drained') for (let v = 0; v < V; v++) t.consume(MSIX, v);
    }
  };
  run(200);
  const per = Math.max(1, Math.floor(batches / SAMPLES));
  const ns: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    run(per);
    ns.push(((performance.now() - t0) * 1e6) / (per * V));
  }
  ns.sort((a, b) => a - b);
  const raised = 200 + per * SAMPLES;
  const c = t.counters(MSIX, 0);
  const bad = t.checkInvariant().length;
  if (c.raised !== raised || bad !== 0)
    throw new Error(`accounting: raised ${c.raised} of ${raised}, ${bad} bad`);
  console.log(
    `${state.padEnd(8)} ${ns[2].toFixed(1)} ns/raise (${ns[0].toFixed(1)} – ${ns[SAMPLES - 1].toFixed(1)}), ` +
      `vector 0: raised ${c.raised}, coalesced ${c.coalesced}, delivered ${c.delivered}, pending ${c.pending}`,
  );
  d.close();
  for (const e of fds) e.close();
}
