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
 * CPU time (user + system) thread `tid` of this process has used, ns. Read from
 * /proc/self/task/<tid>/stat fields 14 and 15 (proc(5)), in clock ticks of 10 ms (USER_HZ is 100 on
 * every Linux ABI the addon builds for), so a figure needs a window of a second or more to be within
 * ~1%. NaN if the thread is gone.
 */
export function threadCpuNs(tid: number): number {
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
