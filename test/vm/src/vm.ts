/**
 * Host side of the VM harness: runs vm.sh (prepare, boot), hands the guest its jobs and input files
 * through the run folder, and reads back what the guest wrote there (JSON lines per job).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VM_SH } from './workspace.js';

/** The cache and run folder (vm.sh's $VIRQ_VM_WORK). */
export const VM_WORK = process.env.VIRQ_VM_WORK ?? '/tmp/virq-vm';

/**
 * The kernels the VM stage boots (vm.sh's VIRQ_VM_KERNEL): Debian 12's own 6.1.y, and the 6.12.y LTS
 * that Debian 12 also ships (linux-image-6.12-amd64).
 */
export const KERNELS = ['6.1', '6.12'] as const;
/** One of {@link KERNELS}. */
export type KernelName = (typeof KERNELS)[number];

/**
 * The kernels this run boots: all of them, or the comma-separated subset in VIRQ_VM_KERNELS (for a
 * local run; CI boots both).
 */
export function selectedKernels(env: string | undefined = process.env.VIRQ_VM_KERNELS): KernelName[] {
  if (!env) return [...KERNELS];
  const names = env.split(',').map((k) => k.trim());
  const bad = names.filter((k) => !(KERNELS as readonly string[]).includes(k));
  if (bad.length)
    throw new Error(`VIRQ_VM_KERNELS: unknown kernel ${bad.join(', ')} (known: ${KERNELS.join(', ')})`);
  return names as KernelName[];
}

/** A step vm.sh timed (`vm.sh: <step> <seconds>s` on stderr). */
export interface StepTiming {
  step: string;
  seconds: number;
}

/** The VM could not be prepared or booted; `message` says why, with vm.sh's own words. */
export class VmError extends Error {
  readonly code = 'EVM';
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
    this.name = 'VmError';
  }
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [VM_SH, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

function timingsOf(stderr: string): StepTiming[] {
  return [...stderr.matchAll(/^vm\.sh: (\w+) ([\d.]+)s$/gm)].map((m) => ({
    step: m[1],
    seconds: Number(m[2]),
  }));
}

function failureOf(stderr: string, fallback: string): string {
  const lines = stderr.split('\n').filter((l) => l.includes('FAILED'));
  return lines.length ? lines.join('\n') : `${fallback}\n${stderr.split('\n').slice(-8).join('\n')}`;
}

/** What `vm.sh prepare` produced. */
export interface Prepared {
  kernel: KernelName;
  kernelPackage: string;
  kernelVersion: string;
  timings: StepTiming[];
  seconds: number;
}

/**
 * Installs what is missing, fetches and unpacks the kernel, builds the initramfs and the runner (each
 * cached). Throws VmError with the reason when any of it fails.
 */
export async function prepareVm(kernel: KernelName): Promise<Prepared> {
  const r = await run(['prepare'], { VIRQ_VM_KERNEL: kernel });
  if (r.code !== 0)
    throw new VmError(
      `vm.sh prepare (kernel ${kernel}) failed:\n${failureOf(r.stderr, `exit ${r.code}`)}`,
      r.stderr,
    );
  const env = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return {
    kernel,
    kernelPackage: env.KERNEL_PKG ?? '?',
    kernelVersion: env.KERNEL_VERSION ?? '?',
    timings: timingsOf(r.stderr),
    seconds: r.seconds,
  };
}

/** One guest job: its stdout becomes out/<name>.jsonl (see guest/plan.sh). */
export interface VmJob {
  name: string;
  timeoutSeconds: number;
  /** A /bin/sh command, run in the guest with cwd = the run folder (VIRQ_EDU, VIRQ_E1000E set). */
  command: string;
}

/** `out/jobs.jsonl`: how each job ended, with guest uptimes. */
export interface JobRecord {
  job: string;
  rc: number;
  start: number;
  end: number;
}

/** What one boot left behind. */
export interface VmRun {
  dir: string;
  console: string;
  kernel: KernelName;
  /** devices.json: PCI addresses, `uname -r`, and whether /dev/iommu and /dev/vfio/devices exist. */
  devices: {
    edu: string;
    e1000e: string;
    kernel: string;
    setupDoneAt: number;
    iommufd: boolean;
    vfioCdev: boolean;
    /** NIC part: virq's NIC (on vfio-pci), the kernel's NIC and its interface; empty in a boot without. */
    nic?: string;
    knic?: string;
    knicIf?: string;
  };
  jobs: JobRecord[];
  seconds: number;
  /** The JSON lines a job printed (a line that is not JSON becomes `{ t: 'unparsed', line }`). */
  lines(job: string): Record<string, unknown>[];
  /** The job's stderr. */
  log(job: string): string;
}

/** Parses JSON lines; keeps what does not parse so a report can show it. */
export function parseJsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { t: 'unparsed', line };
      }
    });
}

function pruneRuns(root: string, keep: number): void {
  if (!existsSync(root)) return;
  const dirs = readdirSync(root)
    .map((d) => ({ d, t: statSync(join(root, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of dirs.slice(keep)) rmSync(join(root, d), { recursive: true, force: true });
}

/** NIC part (issue 11): the kernels whose boot carries virq's virtio-net NIC and the kernel's one. */
export const NIC_KERNELS: readonly KernelName[] = ['6.1'];

/**
 * Boots `kernel` once with `jobs` (and `files` written into the run folder, where jobs find them by
 * relative path). Throws VmError if QEMU fails, the guest times out or never reports back. Boots of
 * different kernels may run side by side (each QEMU is one TCG thread).
 */
export async function bootVm(
  kernel: KernelName,
  label: string,
  jobs: readonly VmJob[],
  files: Record<string, string> = {},
): Promise<VmRun> {
  const runs = join(VM_WORK, 'runs');
  pruneRuns(runs, 8);
  const dir = join(runs, `${label}-${kernel}-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'jobs.txt'),
    `${jobs.map((j) => `${j.name} ${j.timeoutSeconds} ${j.command.replace(/\n/g, ' ')}`).join('\n')}\n`,
  );
  // NIC part (issue 11): only the NIC boot gets the virtio-net devices, and a guest limit that fits its
  // ~2 min of TCG packet work (vm.sh's default is 170 s).
  const nic = NIC_KERNELS.includes(kernel);
  const r = await run(['boot', dir], {
    VIRQ_VM_KERNEL: kernel,
    VIRQ_VM_NIC: nic ? '1' : '0',
    ...(nic && !process.env.VIRQ_VM_TIMEOUT ? { VIRQ_VM_TIMEOUT: '480' } : {}),
  });
  const consolePath = join(dir, 'console.log');
  const console = existsSync(consolePath) ? readFileSync(consolePath, 'utf8') : '';
  if (r.code !== 0) {
    throw new VmError(
      `vm.sh boot (kernel ${kernel}) failed:\n${failureOf(r.stderr, `exit ${r.code}`)}\nconsole tail:\n${console.split('\n').slice(-15).join('\n')}`,
      r.stderr,
    );
  }
  const out = join(dir, 'out');
  const read = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : '');
  const devicesText = read('devices.json');
  if (!devicesText)
    throw new VmError(`the guest wrote no devices.json; console:\n${console.slice(-2000)}`, console);
  return {
    kernel,
    dir,
    console,
    devices: JSON.parse(devicesText),
    jobs: parseJsonLines(read('jobs.jsonl')) as unknown as JobRecord[],
    seconds: r.seconds,
    lines: (job) => parseJsonLines(read(`${job}.jsonl`)),
    log: (job) => read(`${job}.log`),
  };
}
