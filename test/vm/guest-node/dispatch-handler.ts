/**
 * The handler module the guest's Dispatcher slots load (compiled beside e2e.js, imported by every
 * service worker and deferred-work thread in the guest). It records each call in shared memory and,
 * when asked to, acks edu from the worker itself: a pwrite of 1 to BAR0 0x64 (the interrupt
 * acknowledge register) through @virq/native on the device fd the main thread opened — what a
 * user-space driver's top half does before its line is unmasked.
 *
 * ctx.data: { ctl: SharedArrayBuffer (Int32 words, see CTL), ack?: { fd, offset } (decimal string) }
 */
import { importPackage } from '../src/workspace.js';

/** Int32 word offsets in `ctl`. */
export const CTL = {
  /** Handler calls per vector: words 0..7. */
  CALLS: 0,
  /** Sum of ctx.count per vector: words 8..15. */
  SUM: 8,
  /** edu acks written by the handler. */
  ACKS: 16,
  /** Ack on every n-th call (1: each call; 2: every second call, so the unmask meets the level high). */
  ACK_EVERY: 17,
  /** Calls that threw (ack failed). */
  ERRORS: 18,
} as const;

interface Data {
  ctl: SharedArrayBuffer;
  ack?: { fd: number; offset: string };
}

interface Ctx {
  readonly count: number;
  readonly data: unknown;
}

interface Native {
  loadNative(): { vfio: { pwrite(fd: number, data: Uint8Array, offset: bigint): number } };
}

const nat = await importPackage<Native>('native');
if (!nat.ok) throw new Error(nat.reason);
const pwrite = nat.mod.loadNative().vfio.pwrite;
const one = new Uint8Array(new Uint32Array([1]).buffer);
let ctl: Int32Array | undefined;

export function handler(vector: number, ctx: Ctx): boolean {
  const d = ctx.data as Data;
  ctl ??= new Int32Array(d.ctl);
  Atomics.add(ctl, CTL.SUM + vector, ctx.count);
  const every = Atomics.load(ctl, CTL.ACK_EVERY);
  // This call's number: a vector's calls all run on its one owner, in order.
  const call = Atomics.load(ctl, CTL.CALLS + vector) + 1;
  if (d.ack && every > 0 && call % every === 0) {
    // Ack before the call is published: the main thread raises again once it sees the call, and an
    // ack after that would clear the next raise too.
    if (pwrite(d.ack.fd, one, BigInt(d.ack.offset)) !== 4) Atomics.add(ctl, CTL.ERRORS, 1);
    Atomics.add(ctl, CTL.ACKS, 1);
  }
  Atomics.add(ctl, CTL.CALLS + vector, 1);
  return false;
}
