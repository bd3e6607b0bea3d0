/**
 * The NIC bench, in the guest (same boot as the nic job): the same offered stream — `NIC_BENCH_FRAMES`
 * frames over 64 flows, sent by the host's injector as fast as AF_PACKET goes, into a tap that queues
 * 1,000 — received by virq's driver (l2fwd: received and forwarded back, one queue pair) and by the
 * guest kernel's own virtio_net on the second NIC (received, counted by its rx_packets). Both NICs are
 * virtio-net-pci with iommu_platform on one vCPU. Interleaved runs (virq, kernel, virq, ...); per run:
 * frames received, the time from the first to the last one, frames per interrupt, and guest CPU (all
 * of it, /proc/stat) per frame. Prints {"t":"nicbench",...} per run and {"t":"nicbenchsummary",...}.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../src/workspace.js';
import { inject } from './nic-inject.js';

const FRAMES = Number(process.env.NIC_BENCH_FRAMES ?? 20_000);
const RUNS = Number(process.env.NIC_BENCH_RUNS ?? 3);
const KIF = process.env.VIRQ_KNIC_IF ?? '';
const KNIC = '0000:00:11.0';

interface Run {
  nic: { mac: string };
  stats(): { pairs: { rxFrames: number; txFrames: number }[]; dispatcher: { totals: { raised: number } } };
  stop(): Promise<void>;
}

function busyJiffies(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return total - f[3] - f[4]; // minus idle and iowait
}

/** MSI-X interrupts of the kernel NIC's RX queue(s), from /proc/interrupts. */
function kernelRxInterrupts(): number {
  const vdev = readdirSync(`/sys/bus/pci/devices/${KNIC}`).find((d) => /^virtio\d+$/.test(d));
  if (!vdev) return 0;
  let n = 0;
  for (const line of readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    if (!line.includes(`${vdev}-input`)) continue;
    const cols = line.trim().split(/\s+/);
    n += Number(cols[1]) || 0;
  }
  return n;
}

/**
 * Samples `count()` every 2 ms while the injector sends, until it has not moved for 400 ms after the
 * injector finished: frames received, and seconds from the first sample that moved to the last.
 */
async function measure(count: () => number, send: () => Promise<Record<string, number>>) {
  const start = count();
  let last = start;
  let tFirst = 0;
  let tLast = 0;
  let done = false;
  let res: Record<string, number> = {};
  const jiffies0 = busyJiffies();
  const sending = send().then((r) => {
    res = r;
    done = true;
  });
  let quietSince = performance.now();
  for (;;) {
    await sleep(2);
    const now = performance.now();
    const c = count();
    if (c !== last) {
      if (last === start) tFirst = now;
      tLast = now;
      last = c;
      quietSince = now;
    } else if (done && now - quietSince > 400) break;
  }
  await sending;
  const frames = last - start;
  // /proc/stat counts in USER_HZ (100 on Debian) ticks.
  const cpuSeconds = (busyJiffies() - jiffies0) / 100;
  return { frames, seconds: (tLast - tFirst) / 1000, cpuSeconds, injector: res };
}

async function main(): Promise<void> {
  if (!KIF) throw new Error('VIRQ_KNIC_IF is not set: no kernel NIC in this boot');
  const l2 = (await import(pathToFileURL(join(REPO_ROOT, 'examples', 'l2fwd', 'l2fwd.js')).href)) as {
    startL2fwd(o: Record<string, unknown>): Promise<Run>;
  };
  const run = await l2.startL2fwd({ bdf: process.env.VIRQ_NIC, pairs: 1, mode: 'hybrid', workers: 1 });
  const rows: Record<string, number | string>[] = [];
  let id = 900_000_000;
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const side of ['virq', 'kernel'] as const) {
        id++;
        const req = { frames: FRAMES, flows: 64, window: 0, mode: 'offer', run: id };
        let row: Record<string, number | string>;
        if (side === 'virq') {
          const rx = () => run.stats().pairs.reduce((a, p) => a + p.rxFrames, 0);
          const raised0 = run.stats().dispatcher.totals.raised;
          const tx0 = run.stats().pairs.reduce((a, p) => a + p.txFrames, 0);
          const m = await measure(rx, () => inject({ if: 'vqnic0', mac: run.nic.mac, ...req }));
          const interrupts = run.stats().dispatcher.totals.raised - raised0;
          const forwarded = run.stats().pairs.reduce((a, p) => a + p.txFrames, 0) - tx0;
          row = {
            side,
            frames: m.frames,
            forwarded,
            seconds: m.seconds,
            interrupts,
            cpuSeconds: m.cpuSeconds,
            offered: m.injector.sent,
            tapDropped: m.injector.tapTxDropped,
          };
        } else {
          const path = `/sys/class/net/${KIF}/statistics/rx_packets`;
          const rx = () => Number(readFileSync(path, 'utf8'));
          const irq0 = kernelRxInterrupts();
          const m = await measure(rx, () => inject({ if: 'vqnic1', mac: '52:54:00:76:71:02', ...req }));
          row = {
            side,
            frames: m.frames,
            seconds: m.seconds,
            interrupts: kernelRxInterrupts() - irq0,
            cpuSeconds: m.cpuSeconds,
            offered: m.injector.sent,
            tapDropped: m.injector.tapTxDropped,
          };
        }
        const f = Number(row.frames);
        row.rate = f / Number(row.seconds);
        row.framesPerInterrupt = Number(row.interrupts) > 0 ? f / Number(row.interrupts) : 0;
        row.cpuMicrosPerFrame = (Number(row.cpuSeconds) * 1e6) / f;
        rows.push(row);
        console.log(JSON.stringify({ t: 'nicbench', run: r, ...row }));
      }
    }
  } finally {
    await run.stop();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const of = (side: string, k: string) => rows.filter((x) => x.side === side).map((x) => Number(x[k]));
  const ratios = of('virq', 'rate').map((v, i) => v / of('kernel', 'rate')[i]);
  console.log(
    JSON.stringify({
      t: 'nicbenchsummary',
      runs: RUNS,
      framesOffered: FRAMES,
      rateRatio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
      virq: {
        rate: median(of('virq', 'rate')),
        framesPerInterrupt: median(of('virq', 'framesPerInterrupt')),
        cpuMicrosPerFrame: median(of('virq', 'cpuMicrosPerFrame')),
      },
      kernel: {
        rate: median(of('kernel', 'rate')),
        framesPerInterrupt: median(of('kernel', 'framesPerInterrupt')),
        cpuMicrosPerFrame: median(of('kernel', 'cpuMicrosPerFrame')),
      },
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    }),
  );
}

await main();
