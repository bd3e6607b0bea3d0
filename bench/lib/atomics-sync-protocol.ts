// Shared between atomics-sync.bench.ts and its worker: the control words and the scenario message.
import type { DoorbellHandle, RingHandle } from 'atomics-sync';

/** Control words (int32 indices): the worker sets READY when it is set up and DONE when a stream ends. */
export const READY = 0;
/** Set by the main thread to end a raw ping-pong. */
export const STOP = 1;
export const DONE = 2;

/** Doorbell id the main thread rings to end a doorbell echo loop. */
export const STOP_ID = 1;

/** What the worker should do; `ctl` is the control-word buffer. */
export type Scenario =
  | { kind: 'raw-sleep' | 'raw-spin'; words: SharedArrayBuffer; ctl: SharedArrayBuffer }
  | { kind: 'doorbell'; ping: DoorbellHandle; pong: DoorbellHandle; spin?: number; ctl: SharedArrayBuffer }
  | { kind: 'spsc' | 'mpsc'; ring: RingHandle; total: number; batch: number; ctl: SharedArrayBuffer }
  | { kind: 'postmessage'; total: number; ctl: SharedArrayBuffer };

/** A scenario before the main thread adds its control words. */
export type ScenarioRequest = Scenario extends infer S
  ? S extends Scenario
    ? Omit<S, 'ctl'>
    : never
  : never;
