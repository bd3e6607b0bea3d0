/**
 * VfioDevice is a thin pass-through: here its backend is a SoftDevice standing in for the kernel (the
 * real thing is exercised in a QEMU guest). Checked: arguments reach the ioctl unchanged (argsz
 * included), errors come back as VfioError with the kernel's errno, SharedEventFds are refused (the
 * kernel cannot signal them), and the vector table mirrors what the kernel was told.
 */

import { readdirSync } from 'node:fs';
import {
  closeKernelProbe,
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  type IrqSet,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  VFIO_IRQ_SET_DATA_NONE as NONE,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
  VFIO_PCI_NUM_IRQS,
  VfioError,
} from '@virq/core';
import { EventFd } from '@virq/native';
import test from 'ava';
import { VfioDevice, type VfioDeviceBackend } from '../src/index.js';

const openFds = (): Set<string> => new Set(readdirSync('/proc/self/fd'));

const fdsBefore = openFds();

/** A "kernel" backed by a SoftDevice, recording every call it receives, failing like the ioctl would. */
function fakeKernel(kernel: SoftDevice, calls: unknown[]): VfioDeviceBackend {
  const asNodeError = (err: unknown): never => {
    if (err instanceof VfioError) {
      throw Object.assign(new Error(err.message), { code: err.code, errno: err.errno, syscall: err.syscall });
    }
    throw err;
  };
  return {
    getIrqInfo(index, argsz) {
      try {
        return kernel.getIrqInfo(index, argsz);
      } catch (err) {
        return asNodeError(err);
      }
    },
    setIrqs(flags, index, start, count, data, argsz) {
      calls.push({ flags, index, start, count, data: data ? Array.from(data) : undefined, argsz });
      try {
        const set: IrqSet = { flags, index, start, count, argsz };
        if (data) set.data = data instanceof Int32Array ? Array.from(data) : data;
        return kernel.setIrqs(set);
      } catch (err) {
        return asNodeError(err);
      }
    },
  };
}

test.serial('passes SET_IRQS through with argsz and fds, and mirrors triggers into the vector table', (t) => {
  const kernel = new SoftDevice({ msix: { vectors: 4 } });
  const calls: unknown[] = [];
  const dev = new VfioDevice(fakeKernel(kernel, calls));
  t.is(dev.vectorTable.vectors(MSIX), 4);
  const a = EventFd.create({ nonblock: true });
  t.is(dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [a, -1] }), 0);
  t.deepEqual(calls[0], { flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [a.fd, -1], argsz: 28 });
  t.deepEqual(dev.vectorTable.trigger(MSIX, 0), { kind: 'kernel', fd: a.fd });
  t.is(dev.vectorTable.trigger(MSIX, 1), null);
  t.like(dev.vectorTable.state(MSIX, 1), { enabled: true, external: true });
  // the kernel raises; the table sees it at consumption, as external
  kernel.raise(MSIX, 0);
  kernel.raise(MSIX, 0);
  t.is(dev.vectorTable.consume(MSIX, 0), 2n);
  t.like(dev.vectorTable.counters(MSIX, 0), {
    raised: 2,
    external: 2,
    delivered: 1,
    coalesced: 1,
    pending: 0,
  });
  t.is(dev.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: 0 }), 0);
  t.is(dev.vectorTable.irqType, VFIO_PCI_NUM_IRQS);
  t.false(dev.vectorTable.state(MSIX, 0).enabled);
  kernel.close();
  a.close();
});

test.serial('kernel errors come back as VfioError with the kernel errno; SharedEventFd is refused', (t) => {
  const kernel = new SoftDevice({ msix: { vectors: 4 } });
  const dev = new VfioDevice(fakeKernel(kernel, []));
  const e1 = t.throws(() => dev.setIrqs({ flags: NONE | TRIG, index: 9, start: 0, count: 1 }), {
    instanceOf: VfioError,
  });
  t.is(e1?.errno, -22);
  t.is(e1?.syscall, 'VFIO_DEVICE_SET_IRQS');
  const e2 = t.throws(() => dev.getIrqInfo(3), { instanceOf: VfioError });
  t.is(e2?.syscall, 'VFIO_DEVICE_GET_IRQ_INFO');
  const s = SharedEventFd.create();
  const e3 = t.throws(() => dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [s] }), {
    instanceOf: VfioError,
  });
  t.is(e3?.code, 'EINVAL');
  s.close();
  kernel.close();
});

test.serial('a header that cannot be encoded is a coded argument error, and the ioctl is never made', (t) => {
  const kernel = new SoftDevice({ msix: { vectors: 4 } });
  const calls: unknown[] = [];
  const dev = new VfioDevice(fakeKernel(kernel, calls));
  const efd = EventFd.create();
  dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [efd] });
  calls.length = 0;
  const throwing = {
    toString() {
      throw new Error('toString');
    },
  };
  const bad: unknown[] = [
    -1,
    2 ** 32,
    1.5,
    Number.NaN,
    '2',
    null,
    true,
    3n,
    { toString: {} },
    throwing,
    Symbol('x'),
  ];
  let cases = 0;
  for (const k of ['flags', 'index', 'start', 'count', 'argsz'] as const) {
    for (const v of bad) {
      const set = { flags: EFD | TRIG, index: MSIX, start: 1, count: 1, data: [efd], [k]: v };
      const err = t.throws(() => dev.setIrqs(set as never)) as Error & { code?: string };
      const want = typeof v === 'number' ? 'ERR_OUT_OF_RANGE' : 'ERR_INVALID_ARG_TYPE';
      t.is(
        err.code,
        want,
        `${k} = ${typeof v === 'symbol' ? 'a symbol' : String((v as object)?.constructor?.name ?? v)}`,
      );
      cases++;
    }
  }
  for (const set of [null, undefined, 7]) {
    t.is(
      (t.throws(() => dev.setIrqs(set as never)) as Error & { code?: string }).code,
      'ERR_INVALID_ARG_TYPE',
    );
  }
  t.is(cases, 55);
  t.deepEqual(calls, [], 'not one reached the kernel');
  t.truthy(dev.vectorTable.trigger(MSIX, 0), 'the mirror kept the trigger bound before');
  t.is(dev.vectorTable.trigger(MSIX, 1), null);
  kernel.close();
  efd.close();
});

test.serial('a failed set_block is mirrored as the kernel unwinds it', (t) => {
  const kernel = new SoftDevice({ msix: { vectors: 4 } });
  const dev = new VfioDevice(fakeKernel(kernel, []));
  const fds = [EventFd.create(), EventFd.create(), EventFd.create()];
  dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 3, data: fds });
  t.throws(
    () => dev.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 1, count: 2, data: [fds[0], 999999] }),
    {
      instanceOf: VfioError,
    },
  );
  t.truthy(dev.vectorTable.trigger(MSIX, 0));
  t.is(dev.vectorTable.trigger(MSIX, 1), null);
  t.is(kernel.vectorTable.trigger(MSIX, 1), null, 'the "kernel" did the same');
  kernel.close();
  for (const f of fds) f.close();
});

test.serial('no fd left by this file', (t) => {
  closeKernelProbe();
  t.deepEqual(openFds(), fdsBefore);
});
