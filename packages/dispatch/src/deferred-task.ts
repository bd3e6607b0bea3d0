/**
 * The piscina task that runs a vector's deferred work, `thread(vector, ctx)`. It clears the vector's
 * QUEUED bit first — schedule_work's PENDING bit is cleared as the work starts — so a raise during
 * the run queues it again, and it counts the runs of this vector executing at once (never more
 * than one: the main thread serialises them).
 */

import { parentPort, threadId } from 'node:worker_threads';
import {
  attachEnv,
  type EnvHandle,
  type HandlerModule,
  loadHandlerModule,
  VECTOR_WORDS,
  VectorContext,
  VI,
} from '@virq/handler/internal';
import { Piscina } from 'piscina';
import { type DeferredTask, type DeferredWorkerData, THREAD_LOADED } from './deferred.js';

interface Loaded {
  mod: HandlerModule;
  ctx: (VectorContext | undefined)[];
  env: ReturnType<typeof attachEnv>;
}

let loading: Promise<Loaded> | undefined;

async function load(): Promise<Loaded> {
  const data = Piscina.workerData as DeferredWorkerData;
  const env = attachEnv(data.env as EnvHandle, -1);
  const mod = await loadHandlerModule(data.moduleUrl);
  return { mod, env, ctx: new Array(env.state.vectors) };
}

/** Runs `thread` for one vector; resolves to the number of runs of it that were already executing. */
export default async function runDeferred(task: DeferredTask): Promise<number> {
  loading ??= load();
  const { mod, env, ctx } = await loading;
  const { pos } = task;
  const vi = env.state.vi;
  env.state.clearQueued(pos);
  const prior = Atomics.add(vi, pos * VECTOR_WORDS + VI.ACTIVE, 1);
  try {
    let c = ctx[pos];
    if (c === undefined) {
      c = new VectorContext(env, pos);
      ctx[pos] = c;
    }
    await mod.thread?.(c.vector, c);
  } finally {
    Atomics.sub(vi, pos * VECTOR_WORDS + VI.ACTIVE, 1);
  }
  return prior;
}

// Evaluated last, once the whole module graph is instantiated and evaluated: from here on this thread
// may be terminated safely (deferred.ts, DeferredWork.close).
parentPort?.postMessage({ [THREAD_LOADED]: threadId });
