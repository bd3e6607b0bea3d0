/**
 * {@link Dispatcher.stats}: one snapshot of every counter, read from shared memory (the dispatcher's
 * DispatchState and core's vector table), summed per dispatcher. Cheap enough to call at any rate;
 * stats.ts writes it to a file for `virq top`.
 */

import type { Env } from '@virq/handler/internal';
import {
  type DispatchState,
  readCounters,
  type VectorCounters,
  WC,
  WI,
  WORKER_COUNTERS,
} from '@virq/handler/internal';
import type { DispatchMode } from './options.js';

const STATES = ['starting', 'running', 'sleeping', 'stopped', 'dead'] as const;

/** One service worker's statistics. */
export interface WorkerStats {
  /** Slot number (what affinity maps to). */
  id: number;
  state: 'starting' | 'running' | 'sleeping' | 'stopped' | 'dead';
  threadId: number;
  /** Replacements after crashes. */
  incarnation: number;
  /** Vectors it owns. */
  owned: number;
  /** Blocking waits that returned with work. */
  wakeups: number;
  /** Handler calls. */
  events: number;
  /** NAPI polls. */
  polls: number;
  /** Spin episodes before sleeping. */
  spins: number;
  /** Blocking waits entered. */
  sleeps: number;
  /** Collects that returned work. */
  batches: number;
  handlerErrors: number;
  /** Times this slot's worker was replaced. */
  restarts: number;
}

/** What {@link Dispatcher.stats} returns. */
export interface DispatcherStats {
  running: boolean;
  mode: DispatchMode;
  index: number;
  vectors: VectorCounters[];
  workers: WorkerStats[];
  /** Sums over vectors. */
  totals: {
    raised: number;
    delivered: number;
    coalesced: number;
    pending: number;
    dropped: number;
    handled: number;
    handlerErrors: number;
    deferredQueued: number;
    deferredCoalesced: number;
    deferredRuns: number;
    deferredErrors: number;
    redelivered: number;
  };
  /** Deferred runs executing or waiting right now. */
  deferredOutstanding: number;
}

/** What a snapshot is taken of. */
export interface StatsSource {
  running: boolean;
  mode: DispatchMode;
  index: number;
  vectorCount: number;
  workerCount: number;
  /** Undefined before start(): every list is empty and every total 0. */
  state: DispatchState | undefined;
  env: Env | undefined;
  deferredOutstanding: number;
}

/** Reads every counter once. */
export function collectStats(src: StatsSource): DispatcherStats {
  const { state, env } = src;
  const vectors: VectorCounters[] = [];
  const totals = {
    raised: 0,
    delivered: 0,
    coalesced: 0,
    pending: 0,
    dropped: 0,
    handled: 0,
    handlerErrors: 0,
    deferredQueued: 0,
    deferredCoalesced: 0,
    deferredRuns: 0,
    deferredErrors: 0,
    redelivered: 0,
  };
  const workers: WorkerStats[] = [];
  if (state !== undefined && env !== undefined) {
    for (let pos = 0; pos < src.vectorCount; pos++) {
      const c = readCounters(state, env.ops, pos);
      vectors.push(c);
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += c[k];
    }
    for (let w = 0; w < src.workerCount; w++) {
      const ws: Record<string, number> = {};
      for (const k of WORKER_COUNTERS) ws[k] = state.wcounter(w, WC[k]);
      workers.push({
        id: w,
        state: STATES[state.wget(w, WI.STATE)] ?? 'dead',
        threadId: state.wget(w, WI.THREAD_ID),
        incarnation: state.wget(w, WI.INCARNATION),
        owned: state.wget(w, WI.OWNED),
        ...(ws as Omit<WorkerStats, 'id' | 'state' | 'threadId' | 'incarnation' | 'owned'>),
      });
    }
  }
  return {
    running: src.running,
    mode: src.mode,
    index: src.index,
    vectors,
    workers,
    totals,
    deferredOutstanding: src.deferredOutstanding,
  };
}
