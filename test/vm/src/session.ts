/**
 * One whole VM stage for one kernel, shared by the ava driver and the CLI: prepare (cached), generate
 * the sequences, boot once with every guest job, then run the SoftDevice side on the host and compare.
 * The ava driver runs one session per kernel, side by side.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Comparison, compareResults } from './compare.js';
import { AIMED_COUNTS, generateSequences } from './generator.js';
import { collectProbe, type DeviceReport, softConfigFor } from './probe.js';
import { type OpResult, type Sequence, toSeqFile } from './seqfile.js';
import { loadSoftBackend, runSequence, softEnv } from './soft.js';
import {
  bootVm,
  type KernelName,
  NIC_KERNELS,
  type Prepared,
  prepareVm,
  type VmJob,
  type VmRun,
} from './vm.js';
import { VM_DIR } from './workspace.js';

/** The generator's seed unless VIRQ_VM_SEED overrides it (printed with every report). */
export const DEFAULT_SEED = 0x5eed_0001;
/** Random sequences per device, on top of the directed ones. */
export const PER_DEVICE = 110;

/**
 * The guest jobs of one boot of `kernel`, in the order they run. A job that only one kernel can run
 * (say, one that needs /dev/iommu) checks `kernel` here; vm.test.ts asserts this list per kernel.
 */
export function guestJobs(kernel: KernelName): VmJob[] {
  const guest = (file: string) => join(VM_DIR, 'dist', 'guest-node', file);
  const nodeScript = guest('e2e.js');
  const devs = 'edu=$VIRQ_EDU e1000e=$VIRQ_E1000E';
  return [
    { name: 'probe', timeoutSeconds: 30, command: `./irqrun probe ${devs}` },
    { name: 'seq', timeoutSeconds: 60, command: `./irqrun seq seqs.txt ${devs}` },
    { name: 'e2e-c', timeoutSeconds: 60, command: `./irqrun e2e ${devs}` },
    { name: 'node', timeoutSeconds: 200, command: `node ${nodeScript} seqs.txt` },
    // Device memory on edu (issue 10): mem.ts, then the mmio-vs-pread bench (mem-bench.ts).
    { name: 'mem', timeoutSeconds: 150, command: `node ${guest('mem.js')} type1 iommufd bench` },
    ...nicJobs(kernel),
  ];
}

/**
 * NIC part (issue 11): virq's virtio-net driver and l2fwd against the host's injector. On 6.1 only: the
 * driver uses nothing the two kernels answer differently (MSI-X enable, region mmap, type1 DMA), and a
 * second ~2 min of TCG packet work in the 6.12 boot would double its cost in CI.
 */
export function nicJobs(kernel: KernelName): VmJob[] {
  if (!NIC_KERNELS.includes(kernel)) return [];
  return [
    { name: 'nic', timeoutSeconds: 300, command: `node ${join(VM_DIR, 'dist', 'guest-node', 'nic.js')}` },
    {
      name: 'nicbench',
      timeoutSeconds: 150,
      command: `node ${join(VM_DIR, 'dist', 'guest-node', 'nicbench.js')}`,
    },
  ];
}

/** Everything one VM stage produced. */
export interface Session {
  /** Which kernel booted (the answers are `kernel`). */
  kernelName: KernelName;
  seed: number;
  prepared: Prepared;
  run: VmRun;
  seqs: Sequence[];
  probe: Map<string, DeviceReport>;
  /** The kernel's answers from the C runner. */
  kernel: OpResult[];
  /** The kernel's answers through @virq/pci's VfioDevice in the guest's Node (kernel-replay slot). */
  kernelViaNode: OpResult[];
  /** SoftDevice's answers, or why there are none. */
  soft:
    | { ok: true; results: Map<string, OpResult[]>; comparison: Comparison; fdsLeaked: string[] }
    | { ok: false; reason: string };
  timings: Record<string, number>;
}

/**
 * The fds open now, except pipes: the other kernel's session may spawn vm.sh (stdout/stderr pipes)
 * while this one's SoftDevice side runs, and that side itself never opens a pipe (its "pipe" slots
 * are /dev/null), so a pipe appearing meanwhile is never its leak.
 */
function fdsOpen(): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return !readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
    } catch {
      return false; // closed between the listing and the readlink (the listing's own fd among them)
    }
  });
}

const sinceStart = () => performance.now() / 1000;

/** Runs the stage on `kernel`. Throws VmError when the VM cannot be prepared or booted. */
export async function runSession(
  kernelName: KernelName,
  log: (line: string) => void = () => {},
): Promise<Session> {
  const seed = process.env.VIRQ_VM_SEED ? Number(process.env.VIRQ_VM_SEED) : DEFAULT_SEED;
  const t0 = sinceStart();
  const prepared = await prepareVm(kernelName);
  log(
    `prepare ${prepared.seconds.toFixed(1)}s (${prepared.timings.map((t) => `${t.step} ${t.seconds}s`).join(', ')})`,
  );
  const seqs = generateSequences({ seed, perDevice: PER_DEVICE });
  const t1 = sinceStart();
  const run = await bootVm(kernelName, 'ava', guestJobs(kernelName), { 'seqs.txt': toSeqFile(seqs) });
  log(
    `boot ${run.seconds.toFixed(1)}s: ${run.jobs.map((j) => `${j.job} rc=${j.rc} ${(j.end - j.start).toFixed(1)}s`).join(', ')}`,
  );
  const probe = collectProbe(run.lines('probe'));
  const kernel = run.lines('seq').filter((l) => l.t === 'op') as unknown as OpResult[];
  const kernelViaNode = run.lines('node').filter((l) => l.t === 'op') as unknown as OpResult[];

  const t2 = sinceStart();
  const soft = await softSide(() => softCompare(seqs, probe, kernel, kernelName));
  const t3 = sinceStart();
  return {
    kernelName,
    seed,
    prepared,
    run,
    seqs,
    probe,
    kernel,
    kernelViaNode,
    soft,
    timings: { prepare: t1 - t0, boot: t2 - t1, soft: t3 - t2, total: t3 - t0 },
  };
}

/**
 * One SoftDevice side at a time: the sessions of the two kernels run in one process, and each checks
 * that its side left no fd open, which another side running at the same moment would upset.
 */
let softQueue: Promise<unknown> = Promise.resolve();
function softSide<T>(fn: () => Promise<T>): Promise<T> {
  const next = softQueue.then(fn, fn);
  softQueue = next.catch(() => {});
  return next;
}

async function softCompare(
  seqs: readonly Sequence[],
  probe: Map<string, DeviceReport>,
  kernel: readonly OpResult[],
  kernelName: KernelName,
): Promise<Session['soft']> {
  let soft: Session['soft'];
  const loaded = await loadSoftBackend();
  if (!loaded.ok) soft = loaded;
  else {
    const before = fdsOpen();
    const results = new Map<string, OpResult[]>();
    for (const seq of seqs) {
      const report = probe.get(seq.device);
      if (!report?.device.present) throw new Error(`the probe found no ${seq.device}`);
      results.set(seq.id, await runSequence(softEnv(loaded.backend, softConfigFor(report), kernelName), seq));
    }
    loaded.backend.release();
    const after = fdsOpen();
    const comparison = compareResults(seqs, kernel, results, kernelName);
    soft = { ok: true, results, comparison, fdsLeaked: after.filter((fd) => !before.includes(fd)) };
  }
  return soft;
}

/** The IRQ counts per index the kernel reported for a device (-errno where GET_IRQ_INFO failed). */
export function probedCounts(report: DeviceReport): number[] {
  return [0, 1, 2, 3, 4].map((i) => {
    const r = report.irqs.find((x) => x.index === i);
    return r ? (r.ret === 0 ? r.count : 0) : -1;
  });
}

export { AIMED_COUNTS };
