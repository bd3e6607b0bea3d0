/**
 * Per-thread facts the bench needs and Node 20 does not give: a thread's kernel tid, its CPU time
 * (process.cpuUsage() is the whole process's; process.threadCpuUsage() is Node 23.9+), and pinning
 * a thread to one CPU so a "cross-core" figure really is across cores.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

/** The calling thread's kernel tid (from /proc/thread-self, "<pid>/task/<tid>"); -1 if unknown. */
export function currentTid(): number {
  try {
    const m = /task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/**
 * CPU time thread `tid` of this process has used, ns. Read from /proc/self/task/<tid>/schedstat, whose
 * first field is the scheduler's own sum of the time the thread ran (sum_exec_runtime, in ns; kernel
 * Documentation/scheduler/sched-stats.rst), so even a window of a few ms is measured. Where the kernel
 * has no schedstat (CONFIG_SCHED_INFO off) it falls back to utime + stime of .../stat (fields 14 and 15,
 * proc(5)) in 10 ms clock ticks (USER_HZ is 100 on every Linux ABI the addon builds for) — there a
 * window needs a second or more to be within ~1%, and a thread that mostly sleeps through a short one
 * can read 0. NaN if the thread is gone.
 *
 * Why not ticks alone: the kernel-eventfd phase's moderated run is 75 ms of a worker that sleeps out
 * most of it; in ticks its CPU was 0 often enough to fail CI (stop 24), and in every run the figure
 * moved by a tick's share of the window.
 */
export function threadCpuNs(tid: number): number {
  try {
    const sched = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8');
    const ns = Number(sched.slice(0, sched.indexOf(' ')));
    if (Number.isFinite(ns)) return ns;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return Number.NaN;
    // ENOENT: the thread is gone, or this kernel has no schedstat; stat tells which.
  }
  return threadCpuNsFromTicks(tid);
}

/** threadCpuNs's fallback: utime + stime from /proc/self/task/<tid>/stat, 10 ms ticks; NaN if gone. */
export function threadCpuNsFromTicks(tid: number): number {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 1e7;
  } catch {
    return Number.NaN;
  }
}

/**
 * Times thread `tid` of this process was switched off its CPU without asking (preempted:
 * `nonvoluntary_ctxt_switches` of /proc/self/task/<tid>/status, proc(5)). A thread that spins never
 * gives its CPU up itself, so for a spinner this counts every time something else took the CPU. NaN
 * if the thread is gone.
 */
export function threadPreemptions(tid: number): number {
  try {
    const m = /^nonvoluntary_ctxt_switches:\s*(\d+)$/m.exec(
      readFileSync(`/proc/self/task/${tid}/status`, 'utf8'),
    );
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Pins thread `tid` to `cpu` with taskset(1); false if taskset is missing or refused. */
export function pinThread(tid: number, cpu: number): boolean {
  if (tid < 0) return false;
  const r = spawnSync('taskset', ['-pc', String(cpu), String(tid)], { stdio: 'ignore' });
  return r.status === 0;
}
