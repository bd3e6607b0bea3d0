/**
 * Argument errors carry a stable code (issue 13): a TypeError ERR_INVALID_ARG_TYPE /
 * ERR_INVALID_ARG_VALUE or a RangeError ERR_OUT_OF_RANGE, as Node's own — never a VfioError (no
 * ioctl could be encoded), and never a change to the device: after any bad call the vector table's
 * state and counters are what they were.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SharedEventFd,
  SoftDevice,
  VectorTable,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VfioError,
} from '../src/index.js';

const ARG_CODES = ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'];

function argError(
  t: import('ava').ExecutionContext,
  fn: () => unknown,
  code: string,
  cls: ErrorConstructor,
): void {
  const e = t.throws(fn) as Error & { code?: unknown };
  t.true(e instanceof cls, `${e?.name}: ${e?.message}`);
  t.false(e instanceof VfioError);
  t.is(e.code, code);
}

/** Every vector's state bits and counters, to compare before and after a bad call. */
function snapshot(dev: SoftDevice): string {
  const t = dev.vectorTable;
  const out: unknown[] = [t.irqType];
  for (let i = 0; i < 5; i++)
    for (let v = 0; v < t.vectors(i); v++) out.push(t.stateBits(i, v), t.counters(i, v));
  return JSON.stringify(out);
}

test('setIrqs(null) and raise(2, 9999): the two cases of issue 13', (t) => {
  const dev = new SoftDevice({ msix: { vectors: 8 } });
  argError(t, () => dev.setIrqs(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  argError(t, () => dev.raise(MSIX, 9999), 'ERR_OUT_OF_RANGE', RangeError);
  // enabled, the same raise goes through the table: same error
  const efd = SharedEventFd.create();
  dev.setIrqs({
    flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
    index: MSIX,
    start: 0,
    count: 1,
    data: [efd],
  });
  argError(t, () => dev.raise(MSIX, 9999), 'ERR_OUT_OF_RANGE', RangeError);
  argError(t, () => dev.raise(7), 'ERR_OUT_OF_RANGE', RangeError);
  argError(t, () => new SoftDevice({ intx: false }).assertIntx(), 'ERR_OUT_OF_RANGE', RangeError);
  argError(t, () => dev.getIrqInfo(-1), 'ERR_INVALID_ARG_TYPE', TypeError);
  argError(t, () => new SoftDevice({ msix: { vectors: 4096 } }), 'ERR_OUT_OF_RANGE', RangeError);
  argError(t, () => dev.vectorTable.counters(MSIX, 8), 'ERR_OUT_OF_RANGE', RangeError);
  argError(
    t,
    () => VectorTable.attach({ buffer: new SharedArrayBuffer(256), pools: [] }),
    'ERR_INVALID_ARG_VALUE',
    TypeError,
  );
  argError(t, () => SharedEventFd.create({ initval: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
  efd.close();
  dev.close();
});

test('property: any malformed SET_IRQS header is a coded argument error and changes nothing', (t) => {
  const dev = new SoftDevice({ msix: { vectors: 8, maskable: true }, pcie: true });
  const efd = SharedEventFd.create();
  dev.setIrqs({
    flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
    index: MSIX,
    start: 0,
    count: 2,
    data: [efd, efd],
  });
  const notU32 = fc.oneof(
    fc.constantFrom(-1, 2 ** 32, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5),
    fc.string(),
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.bigInt(),
    fc.object(),
    // Objects that cannot become a property key or a string: a lookup keyed by them throws an
    // uncoded TypeError (or the object's own error) unless the shape is checked first. A random seed
    // of fc.object() once made {toString: {}} for `index`, which SoftDevice looked up before checking.
    fc.constantFrom<unknown>(
      { toString: {} },
      {
        toString() {
          throw new Error('toString');
        },
      },
      Object.create(null),
      Symbol('index'),
    ),
  );
  const field = fc.constantFrom('flags', 'index', 'start', 'count', 'argsz');
  fc.assert(
    fc.property(field, notU32, (k, bad) => {
      const before = snapshot(dev);
      const set: Record<string, unknown> = {
        flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        index: MSIX,
        start: 0,
        count: 1,
        data: [efd],
      };
      set[k] = bad;
      if (k === 'argsz' && bad === undefined) return; // an absent argsz is implied, not bad
      let err: (Error & { code?: unknown }) | undefined;
      try {
        dev.setIrqs(set as never);
      } catch (e) {
        err = e as Error & { code?: unknown };
      }
      if (err === undefined) return false;
      const cls = err.code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError;
      return (
        ARG_CODES.includes(err.code as string) &&
        err instanceof cls &&
        (typeof bad === 'number') === (err.code === 'ERR_OUT_OF_RANGE') &&
        snapshot(dev) === before
      );
    }),
    { numRuns: 500 },
  );
  t.is(efd.peek(), 0n);
  efd.close();
  dev.close();
});

test('property: raise outside the device is ERR_OUT_OF_RANGE and counts nothing', (t) => {
  const dev = new SoftDevice({ msix: { vectors: 8 }, msi: { vectors: 4 } });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(fc.constantFrom(1, 2), fc.oneof(fc.integer({ min: 8, max: 1e9 }), fc.integer({ max: -1 }))),
        fc.tuple(fc.oneof(fc.integer({ min: 5, max: 1e6 }), fc.integer({ max: -1 })), fc.nat(8)),
      ),
      ([index, vector]) => {
        const before = snapshot(dev);
        try {
          dev.raise(index, vector);
          return false;
        } catch (e) {
          const err = e as Error & { code?: unknown };
          // MSI has 4 vectors, MSI-X 8: 4..7 on MSI is out of range too
          return err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE' && snapshot(dev) === before;
        }
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
