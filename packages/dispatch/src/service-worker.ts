/**
 * Entry point of a service worker thread (a plain worker_threads Worker): attaches to the
 * dispatcher, imports the user's module, takes its vectors and runs the loop until stop.
 */
import {
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  threadId,
  workerData,
} from 'node:worker_threads';
import { DoorbellTriggerSet, EpollTriggerSet, type TriggerSet, type TriggerSpec } from '@virq/bind';
import { attachEnv, type EnvHandle, loadHandlerModule, WI } from '@virq/handler/internal';
import { Doorbell, type DoorbellHandle } from 'atomics-sync';
import { type ControlMessage, type LoopTuning, Servicer } from './servicer.js';

/** What a service worker is started with. */
export interface ServiceWorkerData {
  slot: number;
  env: EnvHandle;
  triggers: TriggerSpec;
  moduleUrl: string;
  deferredBell: DoorbellHandle;
  /** Positions to take at start (those whose OWNER is this slot). */
  owned: number[];
  /** True for a replacement of a crashed worker: reconcile what it left. */
  recover: boolean;
  control: MessagePort;
  tuning: LoopTuning;
}

/** Messages a service worker posts to the main thread. */
export type WorkerMessage =
  | { op: 'ready' }
  | { op: 'acquired' | 'released'; seq: number }
  | { op: 'error'; pos: number; error: unknown; suppressed: number };

const wd = workerData as ServiceWorkerData;
const port = parentPort!;
const env = attachEnv(wd.env, wd.slot);
const controlId = env.state.vectors;
const set: TriggerSet =
  wd.triggers.kind === 'memory'
    ? new DoorbellTriggerSet(wd.triggers, controlId)
    : new EpollTriggerSet(wd.triggers, controlId);
// A handler may end this thread with process.exit(): close the epoll set on the way out, so a
// crashed worker leaves no fd behind (the triggers themselves belong to the dispatcher).
process.on('exit', () => set.close());
env.state.wset(wd.slot, WI.THREAD_ID, threadId);

const mod = await loadHandlerModule(wd.moduleUrl);
const deferredBell = Doorbell.from(wd.deferredBell);

const servicer = new Servicer({
  slot: wd.slot,
  env,
  set,
  controlId,
  handler: mod.handler,
  hasThread: mod.thread !== undefined,
  napi: mod.napi,
  queueDeferred: (pos) => deferredBell.ring(pos),
  takeControl: () => {
    const out: ControlMessage[] = [];
    for (let m = receiveMessageOnPort(wd.control); m !== undefined; m = receiveMessageOnPort(wd.control)) {
      out.push(m.message as ControlMessage);
    }
    return out;
  },
  reply: (msg) => port.postMessage(msg satisfies WorkerMessage),
  reportError: (pos, error, suppressed) => {
    const e = error instanceof Error ? error : new Error(String(error));
    port.postMessage({
      op: 'error',
      pos,
      error: { message: e.message, stack: e.stack, name: e.name },
      suppressed,
    } satisfies WorkerMessage);
  },
  tuning: wd.tuning,
});

servicer.acquire(wd.owned, wd.recover);
port.postMessage({ op: 'ready' } satisfies WorkerMessage);
servicer.run();
set.close();
wd.control.close();
