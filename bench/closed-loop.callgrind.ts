// Instructions per handled event of the dispatcher's closed loop (256 MSI-X vectors of a SoftDevice, 2
// service workers, each handler re-raising its vector), for A/B comparisons of the service path that
// the machine's load does not move the way it moves wall time. Run under callgrind with
// instrumentation off at start; this program turns it on for the window with callgrind_control and
// prints the events handled in it:
//
//   valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \
//     node dist/closed-loop.callgrind.js [windowMs 5000] [mode poll] [warmupMs 15000]
//   Ir per event = the "totals:" line of cg.out ÷ the printed `handled`
//
// Under valgrind the threads take turns on one CPU and run ~50× slower: the warm-up has to be long for
// the JIT to have optimized the hot path (at 3 s, TurboFan itself is still most of the count). Outside
// valgrind it runs as well (callgrind_control then fails harmlessly) as a plain closed loop.
import { spawn } from 'node:child_process';
import { Dispatcher, type DispatchMode, VFIO_PCI_MSIX_IRQ_INDEX as MSIX, SoftDevice } from 'virq';

const V = 256;
const windowMs = Number(process.argv[2] ?? 5000);
const mode = (process.argv[3] ?? 'poll') as DispatchMode;
const warmupMs = Number(process.argv[4] ?? 15_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Async: a main thread blocked in spawnSync never lets callgrind take the command.
const instrument = (on: boolean) =>
  new Promise((r) =>
    spawn('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], { stdio: 'ignore' })
      .once('exit', r)
      .once('error', r),
  );

const device = new SoftDevice({ msix: { vectors: V } });
const stop = new Int32Array(new SharedArrayBuffer(4));
const d = new Dispatcher({
  device,
  index: MSIX,
  vectors: V,
  workers: 2,
  mode,
  module: new URL('./lib/reraise-handler.js', import.meta.url),
  data: { table: device.vectorTable.handle, stop },
});
await d.start();
for (let v = 0; v < V; v++) device.raise(MSIX, v);
await sleep(warmupMs);
await instrument(true);
const h0 = d.stats().totals.handled;
await sleep(windowMs);
await instrument(false);
const handled = d.stats().totals.handled - h0;
Atomics.store(stop, 0, 1);
await d.stop();
const t = d.stats().totals;
const balanced = t.raised === t.delivered + t.coalesced + t.pending + t.dropped;
console.log(JSON.stringify({ mode, windowMs, handled, raised: t.raised, balanced }));
if (!balanced) process.exitCode = 1;
