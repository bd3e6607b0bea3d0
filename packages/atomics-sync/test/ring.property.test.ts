// Model-based property tests: a ring driven by a random sequence of push/pop/pushBatch/popBatch must
// behave exactly like a bounded FIFO queue (an array with a capacity), including what "full" does.
import test from 'ava';
import fc from 'fast-check';
import { MpscRing, SpscRing } from '../src/index.js';
import { EPOCH_POSITIONS, HEAD, HEAD_EPOCH, RING_HEADER_BYTES, TAIL, TAIL_EPOCH } from '../src/ring-base.js';

/**
 * An empty ring whose int32 positions start at `start` rather than 0, so runs cross the int32 wrap.
 * Writes the header (and, for MPSC, each slot's sequence as left by the previous lap).
 */
function ringAt(kind: 'SpscRing' | 'MpscRing', cap: number, start: number): SpscRing | MpscRing {
  const Ctor = kind === 'SpscRing' ? SpscRing : MpscRing;
  const buf = new SharedArrayBuffer(Ctor.byteLength(cap));
  const ctl = new Int32Array(buf, 0, RING_HEADER_BYTES / 4);
  ctl[TAIL] = start;
  ctl[HEAD] = start;
  if (kind === 'MpscRing') {
    const slots = new Int32Array(buf, RING_HEADER_BYTES, cap * 2);
    for (let s = 0; s < cap; s++) {
      // Slot s was last published for the position one lap before the next one that maps to it.
      const next = start + ((s - start) & (cap - 1));
      slots[2 * s] = (next - cap + 1 - s) | 0;
    }
  }
  return new Ctor(buf, 0, cap);
}

type Cmd =
  | { op: 'push'; v: number }
  | { op: 'pop' }
  | { op: 'pushBatch'; values: number[]; start: number; end: number }
  | { op: 'popBatch'; len: number };

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), v: int32 }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('pop' as const) }) },
  {
    weight: 2,
    arbitrary: fc.array(int32, { maxLength: 40 }).chain((values) =>
      fc.tuple(fc.nat(values.length), fc.nat(values.length)).map(([a, b]) => ({
        op: 'pushBatch' as const,
        values,
        start: Math.min(a, b),
        end: Math.max(a, b),
      })),
    ),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('popBatch' as const), len: fc.nat(40) }) },
);

for (const [name, Ctor] of [
  ['SpscRing', SpscRing],
  ['MpscRing', MpscRing],
] as const) {
  test(`${name} behaves like a bounded FIFO queue`, (t) => {
    fc.assert(
      fc.property(
        fc.integer({ min: name === 'MpscRing' ? 1 : 0, max: 6 }),
        // Starts just below each multiple of 2^30 (as int32: 2^30, 2^31 = the sign wrap, 3·2^30, 0).
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 2 ** 30 - 200, max: 2 ** 30 - 1 }),
          fc.integer({ min: 2 ** 31 - 200, max: 2 ** 31 - 1 }),
          fc.integer({ min: -(2 ** 30) - 200, max: -(2 ** 30) - 1 }),
          fc.integer({ min: -200, max: -1 }),
        ),
        fc.array(cmd, { maxLength: 400 }),
        (log2, start, cmds) => {
          const cap = 2 ** log2;
          const ring =
            start === 0
              ? new Ctor(new SharedArrayBuffer(Ctor.byteLength(cap)), 0, cap)
              : ringAt(name, cap, start);
          const model: number[] = [];
          const ctl = new Int32Array(ring.handle.buffer, ring.handle.offset, RING_HEADER_BYTES / 4);
          // The epochs: how many multiples of 2^30 HEAD (and SPSC's TAIL) crossed since `start`.
          let pushed = 0;
          let popped = 0;
          const crossed = (n: number) =>
            Math.floor(((start >>> 0) + n) / EPOCH_POSITIONS) - Math.floor((start >>> 0) / EPOCH_POSITIONS);
          for (const c of cmds) {
            const before = model.length;
            switch (c.op) {
              case 'push': {
                const fits = model.length < cap;
                if (fits) model.push(c.v);
                if (ring.push(c.v) !== fits) return false;
                break;
              }
              case 'pop':
                if (ring.pop() !== model.shift()) return false;
                break;
              case 'pushBatch': {
                const want = c.values.slice(c.start, c.end);
                const fit = want.slice(0, cap - model.length);
                model.push(...fit);
                if (ring.pushBatch(Int32Array.from(c.values), c.start, c.end) !== fit.length) return false;
                break;
              }
              case 'popBatch': {
                const out = new Int32Array(c.len);
                const want = model.splice(0, c.len);
                const n = ring.popBatch(out);
                if (n !== want.length || want.some((v, i) => out[i] !== v)) return false;
                break;
              }
            }
            if (model.length > before) pushed += model.length - before;
            else popped += before - model.length;
            if (Atomics.load(ctl, HEAD_EPOCH) !== crossed(popped)) return false;
            if (Atomics.load(ctl, TAIL_EPOCH) !== (name === 'SpscRing' ? crossed(pushed) : 0)) return false;
            if (ring.size() !== model.length || ring.isEmpty() !== (model.length === 0)) return false;
            if (ring.hasSpace() !== model.length < cap) return false;
          }
          return true;
        },
      ),
      { numRuns: 500 },
    );
    t.pass('fast-check found no counterexample');
  });
}
