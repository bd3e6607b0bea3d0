// The forwarding app, per frame, on the service worker that owns the frame's queue pair: checks the
// test tag (Ethernet / IPv4 / UDP, then magic, run, flow, seq — test/vm/host/inject.c writes it),
// counts the flow and its order, swaps the MACs and asks for the frame to go back on the same pair.
// Counters live in a SharedArrayBuffer: a flow always arrives on one queue (the tap hashes it there),
// so each flow has one writer.

/** Flows counted (flow ids at or above are malformed). */
export const MAX_FLOWS = 4096;
/** Int32 words per flow: frames, next expected seq, late or repeated (seq below next), skipped seqs. */
export const FLOW_WORDS = 4;
export const F = { FRAMES: 0, NEXT: 1, LATE: 2, SKIPPED: 3 };
/** Int32 words per pair after the flows: malformed frames, and the pair each flow was first seen on. */
export const MAGIC = 0x56514e46;
const TAG = 42;

/** The shared counters of one run: flows, then per pair [malformed], then flow → pair (+1). */
export function createCounters(pairs) {
  return new SharedArrayBuffer((MAX_FLOWS * FLOW_WORDS + pairs + MAX_FLOWS) * 4);
}

/**
 * The app for `virtioNetHandlers`. `faults` (tests): `throwAt` — throw from the handler at this frame
 * number of pair 0 (once); `exitAt` — end the worker (process.exit) at this frame number of pair 0
 * (once). Both happen before the frame is counted: the driver leaves it in the ring for the next call.
 */
export function l2fwdApp(data) {
  let words;
  let pairs;
  const seen = new Int32Array(1); // frames of pair 0 seen (fault points), this thread
  return {
    frame(pair, f) {
      if (words === undefined) {
        words = new Int32Array(data.counters);
        pairs = data.pairs;
      }
      if (pair === 0 && data.faults !== undefined) {
        const n = ++seen[0];
        const once = new Int32Array(data.faults.once);
        if (n === data.faults.throwAt && Atomics.compareExchange(once, 0, 0, 1) === 0) {
          throw new Error('l2fwd: injected handler fault');
        }
        if (n === data.faults.exitAt && Atomics.compareExchange(once, 1, 0, 1) === 0) process.exit(7);
      }
      const flowBase = MAX_FLOWS * FLOW_WORDS;
      if (
        f.length < TAG + 16 ||
        f[12] !== 0x08 ||
        f[13] !== 0x00 ||
        ((f[TAG] << 24) | (f[TAG + 1] << 16) | (f[TAG + 2] << 8) | f[TAG + 3]) !== MAGIC
      ) {
        words[flowBase + pair]++;
        return false;
      }
      const flow = ((f[TAG + 8] << 24) | (f[TAG + 9] << 16) | (f[TAG + 10] << 8) | f[TAG + 11]) >>> 0;
      const seq = ((f[TAG + 12] << 24) | (f[TAG + 13] << 16) | (f[TAG + 14] << 8) | f[TAG + 15]) >>> 0;
      if (flow >= MAX_FLOWS) {
        words[flowBase + pair]++;
        return false;
      }
      const w = flow * FLOW_WORDS;
      words[w + F.FRAMES]++;
      const next = words[w + F.NEXT];
      if (seq < next) words[w + F.LATE]++;
      else {
        words[w + F.SKIPPED] += seq - next;
        words[w + F.NEXT] = seq + 1;
      }
      const onPair = flowBase + pairs + flow;
      if (words[onPair] === 0) words[onPair] = pair + 1;
      else if (words[onPair] !== pair + 1) words[onPair] = -1; // a flow seen on two pairs
      // Swap destination and source MAC: the frame goes back to whoever sent it.
      for (let i = 0; i < 6; i++) {
        const d = f[i];
        f[i] = f[6 + i];
        f[6 + i] = d;
      }
      return true;
    },
  };
}

/** Reads the counters of a run: per flow, per pair, and totals. */
export function readCounters(buffer, pairs, flows) {
  const w = new Int32Array(buffer);
  const flowBase = MAX_FLOWS * FLOW_WORDS;
  const perFlow = [];
  for (let f = 0; f < flows; f++) {
    const b = f * FLOW_WORDS;
    perFlow.push({
      frames: w[b + F.FRAMES],
      next: w[b + F.NEXT],
      late: w[b + F.LATE],
      skipped: w[b + F.SKIPPED],
      pair: w[flowBase + pairs + f] - 1,
    });
  }
  const malformed = [];
  for (let p = 0; p < pairs; p++) malformed.push(w[flowBase + p]);
  return { perFlow, malformed };
}
