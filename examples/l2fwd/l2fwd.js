#!/usr/bin/env node
// l2fwd: receive on every queue of a virtio-net NIC bound to vfio-pci, count per flow, swap MACs, send
// each frame back on the queue pair it came in on. Prints per-queue rates and totals once a second;
// with --stats-file the Dispatcher writes the snapshot `virq top` shows.
//
//   node examples/l2fwd/l2fwd.js 0000:00:10.0 [--pairs 8] [--mode interrupt|hybrid|poll] [--workers 2]
//                                [--seconds 10] [--stats-file /dev/shm/virq-l2fwd.json]
import { VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import { Dispatcher } from '@virq/dispatch';
import { VfioPciDevice } from '@virq/pci';
import { PAIR_STAT_WORDS, PAIR_STATS, VirtioNet, vfioMemory } from '@virq/virtio-net';
import { createCounters, readCounters } from './app.js';

/**
 * Opens the NIC, starts the Dispatcher on its vectors (bound before DRIVER_OK) and the device.
 * Returns the running pieces and stop(), which stops the dispatcher, resets the device and releases
 * every fd, mapping and DMA mapping.
 */
export async function startL2fwd(o) {
  const dev = VfioPciDevice.open(o.bdf);
  let nic;
  let d;
  try {
    const mem = vfioMemory(dev);
    nic = VirtioNet.open(mem.config, mem, { pairs: o.pairs, rxBuffers: o.rxBuffers });
    const counters = createCounters(nic.pairs);
    d = new Dispatcher({
      device: dev.irq,
      index: VFIO_PCI_MSIX_IRQ_INDEX,
      vectors: nic.vectors,
      workers: o.workers ?? 2,
      mode: o.mode ?? 'interrupt',
      budget: o.budget ?? 64,
      hybrid: o.hybrid,
      statsFile: o.statsFile,
      // Workers import the driver and the app at start: give a loaded machine (or a TCG guest) time.
      timeoutMs: o.timeoutMs ?? 120_000,
      module: new URL('./handlers.js', import.meta.url),
      data: { nic: nic.layout, l2fwd: { counters, pairs: nic.pairs, faults: o.faults } },
    });
    if (o.onError) d.on('error', o.onError);
    await d.start(); // SET_IRQS: one eventfd per vector, before DRIVER_OK
    nic.start();
    const stats = () => {
      const s = new Float64Array(nic.layout.stats);
      const pairs = [];
      for (let p = 0; p < nic.pairs; p++) {
        const row = {};
        for (const [k, i] of Object.entries(PAIR_STATS)) row[k] = s[p * PAIR_STAT_WORDS + i];
        pairs.push(row);
      }
      return { pairs, dispatcher: d.stats() };
    };
    let stopped = false;
    return {
      nic,
      dispatcher: d,
      counters: (flows) => readCounters(counters, nic.pairs, flows),
      stats,
      async stop() {
        if (stopped) return;
        stopped = true;
        // The device first (it stops DMA and interrupts), then the workers, then memory and fds.
        try {
          nic.close();
        } finally {
          await d.stop();
          dev.close();
        }
      },
    };
  } catch (e) {
    try {
      nic?.close();
    } catch {}
    await d?.stop().catch(() => {});
    dev.close();
    throw e;
  }
}

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bdf = process.argv[2];
  if (!bdf || bdf.startsWith('--')) {
    console.error(
      'usage: l2fwd.js <bdf> [--pairs N] [--mode interrupt|hybrid|poll] [--workers N] [--seconds S] [--stats-file F]',
    );
    process.exit(64);
  }
  const run = await startL2fwd({
    bdf,
    pairs: Number(arg('pairs', '1')),
    mode: arg('mode', 'interrupt'),
    workers: Number(arg('workers', '2')),
    statsFile: arg('stats-file', undefined),
    onError: (e) => console.error(e.error.code, e.error.message),
  });
  console.log(`l2fwd: ${run.nic.mac}, ${run.nic.pairs} pairs, vectors ${run.nic.vectors.length}`);
  let last = run.stats();
  const timer = setInterval(() => {
    const now = run.stats();
    const line = now.pairs.map((p, i) => `q${i} ${p.rxFrames - last.pairs[i].rxFrames}/s`).join(' ');
    const total = now.pairs.reduce((a, p) => a + p.rxFrames, 0);
    console.log(`${line} | total rx ${total} tx ${now.pairs.reduce((a, p) => a + p.txFrames, 0)}`);
    last = now;
  }, 1000);
  const stop = async () => {
    clearInterval(timer);
    await run.stop();
  };
  process.on('SIGINT', stop);
  setTimeout(stop, Number(arg('seconds', '10')) * 1000);
}
