// SET_IRQS's data in every form the API takes — an array, an Int32Array, the raw bytes of a struct
// vfio_irq_set's data[] as a Uint8Array (little-endian s32 for EVENTFD) — is the same call: the same
// triggers bound, the same vectors signalled. What the kernel reads is the bytes; the forms are ours.
import { readdirSync } from 'node:fs';
import { EventFd } from '@virq/native';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  VFIO_IRQ_SET_DATA_BOOL as BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  VFIO_IRQ_SET_DATA_NONE as NONE,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
} from '../src/index.js';

const V = 6;
const openFds = () => readdirSync('/proc/self/fd').length;
const le32 = (fds: number[]) => new Uint8Array(Int32Array.from(fds).buffer);

test('EVENTFD data: an array of fd numbers, of EventFds, an Int32Array and LE bytes bind the same triggers', (t) => {
  const before = openFds();
  const efds = [EventFd.create({ nonblock: true }), EventFd.create({ nonblock: true })];
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(-1, 0, 1), { minLength: 1, maxLength: V }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: V - 1 }),
      (pick, extra, startRaw) => {
        const start = Math.min(startRaw, V - pick.length);
        const fds = pick.map((p) => (p < 0 ? -1 : efds[p].fd));
        // data past count is ignored, as the kernel ignores bytes past count * 4
        const padded = [...fds, ...Array.from({ length: extra }, () => efds[0].fd)];
        const forms: Array<[string, unknown]> = [
          ['numbers', padded],
          [
            'objects',
            [...pick.map((p) => (p < 0 ? -1 : efds[p])), ...Array.from({ length: extra }, () => efds[1])],
          ],
          ['Int32Array', Int32Array.from(padded)],
          ['bytes', le32(padded)],
        ];
        const seen: string[] = [];
        for (const [name, data] of forms) {
          const d = new SoftDevice({ msix: { vectors: V } });
          try {
            // MSI-X enabled with every vector unbound, then the call under test
            d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: V, data: Array(V).fill(-1) });
            t.is(
              d.setIrqs({ flags: EFD | TRIG, index: MSIX, start, count: pick.length, data: data as never }),
              0,
              name,
            );
            const triggers = Array.from({ length: V }, (_, v) => d.vectorTable.trigger(MSIX, v));
            seen.push(JSON.stringify(triggers));
            // what was bound is what the picks say, vector by vector
            for (let v = 0; v < V; v++) {
              const i = v - start;
              const want = i >= 0 && i < pick.length && pick[i] >= 0;
              if ((triggers[v] !== null) !== want) return false;
            }
          } finally {
            d.close();
          }
        }
        return seen.every((s) => s === seen[0]);
      },
    ),
    { numRuns: 150 },
  );
  for (const e of efds) e.close();
  t.is(openFds(), before, 'no fd left');
});

test("BOOL data: booleans, numbers (low byte), a Uint8Array and an Int32Array's bytes signal the same vectors", (t) => {
  const efds = Array.from({ length: V }, () => EventFd.create({ nonblock: true }));
  const d = new SoftDevice({ msix: { vectors: V } });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: V, data: efds });
  const signalled = () =>
    efds.map((e) => {
      try {
        return e.read() > 0n;
      } catch {
        return false; // EAGAIN: not signalled
      }
    });
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: 1, maxLength: V }),
      fc.integer({ min: 0, max: V - 1 }),
      (bits, s0) => {
        const start = Math.min(s0, V - bits.length);
        const want = Array.from(
          { length: V },
          (_, v) => v >= start && v - start < bits.length && bits[v - start],
        );
        const bytes = Uint8Array.from(bits, (b) => (b ? 1 : 0));
        const i32 = new Int32Array(Math.ceil(bits.length / 4) + 1); // its first bits.length bytes are the bools
        new Uint8Array(i32.buffer).set(bytes);
        const forms: unknown[] = [
          bits,
          bits.map((b) => (b ? 0x101 : 0x100)), // numbers: the low byte is what counts
          bytes,
          i32,
        ];
        for (const data of forms) {
          const argsz = 20 + bits.length;
          if (
            d.setIrqs({
              flags: BOOL | TRIG,
              index: MSIX,
              start,
              count: bits.length,
              data: data as never,
              argsz,
            }) !== 0
          )
            return false;
          if (JSON.stringify(signalled()) !== JSON.stringify(want)) return false;
        }
        return true;
      },
    ),
    { numRuns: 150 },
  );
  // A bool that is neither a boolean nor an integer is EINVAL, and signals nothing.
  for (const bad of [[true, 'x'], [1.5], [null]]) {
    t.throws(
      () => d.setIrqs({ flags: BOOL | TRIG, index: MSIX, start: 0, count: bad.length, data: bad as never }),
      {
        code: 'EINVAL',
      },
    );
    t.deepEqual(signalled(), Array(V).fill(false));
  }
  t.is(d.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: V }), 0);
  t.deepEqual(signalled(), Array(V).fill(true), 'and NONE signals them all');
  d.close();
  for (const e of efds) e.close();
});

/** A device with MSI-X enabled on V vectors, each bound to its own new eventfd (`efds[v]`), and a snapshot of what SET_IRQS can change. */
function bound() {
  const efds = Array.from({ length: V }, () => EventFd.create({ nonblock: true }));
  const d = new SoftDevice({ msix: { vectors: V } });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: V, data: efds });
  const state = () =>
    JSON.stringify(
      Array.from({ length: V }, (_, v) => [d.vectorTable.trigger(MSIX, v), d.vectorTable.counters(MSIX, v)]),
    );
  /** Which eventfd each vector signals (its index in `efds`, -1 for none): a NONE loopback per vector. */
  const routes = () =>
    Array.from({ length: V }, (_, v) => {
      d.setIrqs({ flags: NONE | TRIG, index: MSIX, start: v, count: 1 });
      const hit = efds.map((e) => {
        try {
          return e.read() > 0n;
        } catch {
          return false; // EAGAIN: not signalled
        }
      });
      return hit.indexOf(true);
    });
  /** The device first (it releases its triggers), then the eventfds. */
  const close = () => {
    d.close();
    for (const e of efds) e.close();
  };
  return { d, efds, state, routes, close };
}

/** The stable code of what `fn` threw (a VfioError's errno name, or an argument error's ERR_*). */
function codeOf(t: ExecutionContext, fn: () => unknown): string | undefined {
  return (t.throws(fn) as (Error & { code?: string }) | undefined)?.code;
}

test('data shorter than count is EINVAL: argsz (implied from the data, or given) must cover count elements', (t) => {
  const { d, efds, state, routes, close } = bound();
  const before = state();
  const two = [efds[1].fd, efds[0].fd];
  // count 3, two fds: every form implies argsz 20 + 8 < 20 + 12 (the 7-byte form: 20 + 4)
  for (const data of [two, Int32Array.from(two), le32(two), le32(two).subarray(0, 7)]) {
    t.is(
      codeOf(t, () => d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 3, data: data as never })),
      'EINVAL',
    );
  }
  for (const data of [[true, false], Uint8Array.of(1, 1)]) {
    t.is(
      codeOf(t, () => d.setIrqs({ flags: BOOL | TRIG, index: MSIX, start: 0, count: 3, data })),
      'EINVAL',
    );
  }
  // all three given, but argsz claims fewer bytes: EINVAL too (the kernel copies only argsz bytes)
  const three = [efds[2].fd, efds[1].fd, efds[0].fd];
  const short = { flags: EFD | TRIG, index: MSIX, start: 0, count: 3, data: three, argsz: 20 + 11 };
  t.is(
    codeOf(t, () => d.setIrqs(short)),
    'EINVAL',
  );
  t.is(state(), before, 'nothing rebound, nothing signalled');
  t.deepEqual(routes(), [0, 1, 2, 3, 4, 5], 'every vector still signals its own eventfd');
  t.is(d.setIrqs({ ...short, argsz: 20 + 12 }), 0);
  t.deepEqual(routes(), [2, 1, 0, 3, 4, 5], 'with argsz covering them the three are rebound');
  close();
});

test('an EVENTFD element that is not an s32 fd or an eventfd object is EINVAL; -1 unbinds', (t) => {
  const { d, efds, state, routes, close } = bound();
  const before = state();
  for (const bad of [1.5, 2 ** 31, -(2 ** 31) - 1, Number.NaN, 'x', true, null, undefined]) {
    t.is(
      codeOf(t, () =>
        d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [efds[0], bad] as never }),
      ),
      'EINVAL',
      String(bad),
    );
  }
  t.is(state(), before, 'refused while decoding, before anything was released or bound');
  t.is(d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [-1, efds[3]] }), 0);
  t.is(d.vectorTable.trigger(MSIX, 0), null, '-1 unbound vector 0');
  t.deepEqual(routes(), [-1, 3, 2, 3, 4, 5], 'vector 0 unbound, vector 1 signals efd 3');
  close();
});

test('no data with argsz covering count: BOOL reads zeros (signals nothing); EVENTFD reads fd 0 and is refused', (t) => {
  const { d, state, routes, close } = bound();
  const before = state();
  // The kernel copies argsz bytes from the caller; a caller that gives none has a zeroed buffer here.
  t.is(d.setIrqs({ flags: BOOL | TRIG, index: MSIX, start: 0, count: V, argsz: 20 + V }), 0);
  t.is(state(), before, 'BOOL zeros: no vector signalled');
  // fd 0 is this process's stdin, never an eventfd: refused (EINVAL, or EBADF if stdin is closed). As
  // in the kernel's vfio_msi_set_vector_signal, vector 0's old trigger is released before the new fd
  // is looked up, so vector 0 is left unbound; vector 1 is never reached.
  const code = codeOf(t, () =>
    d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, argsz: 20 + 8 }),
  );
  t.true(code === 'EINVAL' || code === 'EBADF', String(code));
  t.is(d.vectorTable.trigger(MSIX, 0), null);
  t.deepEqual(routes(), [-1, 1, 2, 3, 4, 5]);
  close();
});
