/**
 * The handler module `virq soak` gives its dispatchers. It records every raise a call carries
 * (ctx.count) per vector, so the soak can prove nothing was lost, and carries out the fault the main
 * thread plants for a vector (a word pair in shared memory): 'throw' (the handler fails after it
 * ran: its delivery counts, the vector keeps being serviced) or 'exit' (process.exit inside the
 * handler, before it records anything: the worker dies and its replacement redelivers).
 */
import type { HandlerContext } from '@virq/dispatch';

/** What the soak passes as the dispatcher's `data`. */
export interface SoakHandlerData {
  /** Int32 per position: raises recorded (Σ ctx.count). */
  seen: SharedArrayBuffer;
  /** Int32 per position: handler calls that ran to their record. */
  calls: SharedArrayBuffer;
  /** Int32 words, see {@link FAULT}. */
  fault: SharedArrayBuffer;
  /** Vector number → position (vectors are 0..n-1 here, so the identity). */
  vectors: number;
}

/** Fault words: TARGET holds vector + 1 (0: none), KIND a {@link FaultKind}, DONE counts faults carried out. */
export const FAULT = { TARGET: 0, KIND: 1, DONE: 2 } as const;
/** Fault kinds as stored. */
export const FaultKind = { throw: 1, exit: 2 } as const;

let seen: Int32Array | undefined;
let calls: Int32Array | undefined;
let fault: Int32Array | undefined;

export function handler(vector: number, ctx: HandlerContext): boolean {
  if (seen === undefined) {
    const d = ctx.data as SoakHandlerData;
    seen = new Int32Array(d.seen);
    calls = new Int32Array(d.calls);
    fault = new Int32Array(d.fault);
  }
  // one load per call: the planted fault is for this vector, and this call takes it (CAS: once)
  if (
    Atomics.load(fault!, FAULT.TARGET) === vector + 1 &&
    Atomics.compareExchange(fault!, FAULT.TARGET, vector + 1, 0) === vector + 1
  ) {
    const kind = Atomics.load(fault!, FAULT.KIND);
    Atomics.add(fault!, FAULT.DONE, 1);
    if (kind === FaultKind.exit) process.exit(7);
    Atomics.add(seen, vector, ctx.count);
    Atomics.add(calls!, vector, 1);
    throw new Error(`soak: injected throw on vector ${vector}`);
  }
  Atomics.add(seen, vector, ctx.count);
  Atomics.add(calls!, vector, 1);
  return false;
}
