/**
 * What the machine's CPUs deliver right now: a fixed loop pinned to each CPU (taskset), first alone on
 * it, then on every CPU at once.
 *
 * Why: the 2-vCPU guests we measure on are not two CPUs. A pure integer loop (C, 10⁸ additions per
 * sample, 2026-12-04 18:50 UTC, nothing else running in the guest) took 29–31 ms on cpu0 while the same
 * loop on cpu1 took 77–88 ms: with both busy the pair delivered ~1.4 CPUs' worth, and alone a vCPU
 * swung between 29 and 55 ms from one second to the next. The host shares the vCPUs' cores with work
 * the guest cannot see (no steal time is reported). Every phase with two or more busy threads runs
 * at that capacity, so a run's figures move with it; printing it per run lets an outlier be matched to
 * the machine instead of the code (bench/README.md, "Why `pnpm bench`'s figures spread"). A JS loop
was tried first and rejected: its pass time moved 6× with JIT tiering (4.3 vs 26 ms), not the CPU.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** `native-baseline spin` pinned to `cpu` for `ms`: its median pass time in ms, or NaN if that failed. */
function pinnedLoop(bin: string, cpu: number, ms: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('taskset', ['-c', String(cpu), bin, 'spin', String(ms)], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', () => resolve(Number.NaN));
    child.on('close', (code) => resolve(code === 0 ? Number(out.trim()) : Number.NaN));
  });
}

/** Per CPU: the loop's pass time alone on it and with every CPU running it (ms). */
export interface CpuCapacity {
  aloneMs: number[];
  togetherMs: number[];
  /**
   * CPUs' worth the machine delivered with all of them busy: Σ fastest-alone ÷ together (2 on a
   * 2-CPU machine whose CPUs are what they say).
   */
  delivered: number;
}

/**
 * Measures {@link CpuCapacity} with the C baseline's `spin` (bench/c/native-baseline.c, a fixed loop
 * whose time no JIT tiering moves): ~0.2 s per CPU alone, then 0.4 s all at once. Undefined without
 * taskset or the binary.
 */
export async function measureCpuCapacity(bin: string): Promise<CpuCapacity | undefined> {
  const n = Math.min(availableParallelism(), 16);
  const aloneMs: number[] = [];
  for (let cpu = 0; cpu < n; cpu++) aloneMs.push(await pinnedLoop(bin, cpu, 200));
  const togetherMs = await Promise.all(Array.from({ length: n }, (_, cpu) => pinnedLoop(bin, cpu, 400)));
  if ([...aloneMs, ...togetherMs].some((v) => !Number.isFinite(v) || v <= 0)) return undefined;
  const fastest = Math.min(...aloneMs);
  const delivered = togetherMs.reduce((s, v) => s + fastest / v, 0);
  return { aloneMs, togetherMs, delivered };
}
