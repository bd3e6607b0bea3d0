/**
 * The conformance scenarios: numbered, each citing the kernel function it mirrors, covering every errno
 * path and state transition of ../shared/spec/vfio-irq.md §3–§8 (as mainline implements them). Written
 * once; conformance-shared.test.ts runs them with SharedEventFd triggers, conformance-native.test.ts
 * with kernel eventfds.
 */
import { closeSync, openSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import {
  closeKernelProbe,
  VFIO_PCI_ERR_IRQ_INDEX as ERR,
  EventFdPool,
  VFIO_PCI_INTX_IRQ_INDEX as INTX,
  type IrqSet,
  VFIO_PCI_MSI_IRQ_INDEX as MSI,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  VFIO_PCI_REQ_IRQ_INDEX as REQ,
  type SoftDevice,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_NUM_IRQS,
} from '../../src/index.js';
import { type Efd, type Harness, openFds, settle, until, vfioErr } from './kit.js';

/** One numbered scenario. */
export interface Scenario {
  id: string;
  /** The kernel function whose behaviour it pins down. */
  kernel: string;
  title: string;
  run(t: ExecutionContext, h: Harness): void | Promise<void>;
}

const NONE = VFIO_IRQ_SET_DATA_NONE;
const BOOL = VFIO_IRQ_SET_DATA_BOOL;
const EFD = VFIO_IRQ_SET_DATA_EVENTFD;
const MASK = VFIO_IRQ_SET_ACTION_MASK;
const UNMASK = VFIO_IRQ_SET_ACTION_UNMASK;
const TRIG = VFIO_IRQ_SET_ACTION_TRIGGER;

function set(
  d: SoftDevice,
  flags: number,
  index: number,
  start: number,
  count: number,
  data?: IrqSet['data'],
) {
  return d.setIrqs({ flags, index, start, count, data });
}
function bind(d: SoftDevice, index: number, start: number, fds: ReadonlyArray<Efd | number>) {
  return set(d, EFD | TRIG, index, start, fds.length, fds);
}
function errno(fn: () => unknown): string {
  return vfioErr(fn).code;
}
/** An fd number that is certainly not open. */
function closedFd(): number {
  return Math.max(...[...openFds()].map(Number)) + 1000;
}
/** Runs fn with an open fd that is not an eventfd (/dev/null). */
function withNonEventfd<T>(fn: (fd: number) => T): T {
  const fd = openSync('/dev/null', 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}
const msiDev = (h: Harness, extra = {}) =>
  h.device({ intx: true, msi: { vectors: 4 }, msix: { vectors: 8 }, ...extra });

/**
 * Everything a SET_IRQS can change, as the device shows it: the enabled type, the vectors allocated,
 * msi_qmax, INTx's hardware bits, virtual disable and virqfds, and for every vector of every index
 * its state bits (enabled, masked, held, level), its bound trigger and its counters; plus the eventfd
 * pool's live references and this process's open fds (a refused call that took a reference or a
 * duplicate and kept it shows here, not only in the harness's leak check at the end).
 */
function snapshot(d: SoftDevice) {
  const t = d.vectorTable;
  const vectors: unknown[] = [];
  for (let index = 0; index < VFIO_PCI_NUM_IRQS; index++) {
    for (let v = 0; v < t.vectors(index); v++) {
      vectors.push({
        index,
        v,
        bits: t.stateBits(index, v),
        trigger: t.trigger(index, v),
        counters: t.counters(index, v),
      });
    }
  }
  return {
    irqType: d.irqType,
    allocated: d.allocatedVectors,
    msiQmax: d.msiQmax,
    intxHw: d.intxHw,
    intxDisabled: d.intxDisabled,
    intxAsserted: d.intxAsserted,
    virqfds: { unmask: d.intxVirqfd('unmask'), mask: d.intxVirqfd('mask') },
    live: EventFdPool.default.live,
    fds: openFds().size,
    vectors,
  };
}

/**
 * A SET_IRQS the kernel refuses before it changes anything — vfio_set_irqs_validate_and_prepare,
 * vfio_pci_set_irqs_ioctl's dispatch, the irq_type checks at the top of each set function, an fd
 * that eventfd_ctx_fdget or vfio_virqfd_enable rejects before anything is installed: it fails with
 * `code` and the whole device state after equals the state before. An eventfd the call passes is
 * opened before it (the snapshot counts open fds and pool references).
 */
function refused(t: ExecutionContext, d: SoftDevice, fn: () => unknown, code: string, why?: string): void {
  const before = snapshot(d);
  t.is(errno(fn), code, why);
  t.deepEqual(snapshot(d), before, `${code}${why ? ` (${why})` : ''}: the device is as it was`);
}

export const SCENARIOS: Scenario[] = [
  // ---------------------------------------------------------------- §3 GET_IRQ_INFO
  {
    id: 'S001',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'argsz < 16 is -EINVAL',
    run(t, h) {
      const e = vfioErr(() => h.device().getIrqInfo(INTX, 15));
      t.is(e.code, 'EINVAL');
      t.is(e.errno, -22);
      t.is(e.syscall, 'VFIO_DEVICE_GET_IRQ_INFO');
    },
  },
  {
    id: 'S002',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'index >= VFIO_PCI_NUM_IRQS is -EINVAL',
    run(t, h) {
      t.is(
        errno(() => h.device().getIrqInfo(VFIO_PCI_NUM_IRQS)),
        'EINVAL',
      );
      t.is(
        errno(() => h.device().getIrqInfo(99)),
        'EINVAL',
      );
    },
  },
  {
    id: 'S003',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'ERR on a non-PCIe function is -EINVAL; on PCIe it is count 1, EVENTFD|NORESIZE',
    run(t, h) {
      t.is(
        errno(() => h.device({ pcie: false }).getIrqInfo(ERR)),
        'EINVAL',
      );
      t.deepEqual(h.device({ pcie: true }).getIrqInfo(ERR), {
        index: ERR,
        count: 1,
        flags: VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
      });
    },
  },
  {
    id: 'S004',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'INTx: count 1 with a pin, flags EVENTFD|MASKABLE|AUTOMASKED; no pin: count 0',
    run(t, h) {
      const flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
      t.deepEqual(h.device().getIrqInfo(INTX), { index: INTX, count: 1, flags });
      t.deepEqual(h.device({ intx: false }).getIrqInfo(INTX), { index: INTX, count: 0, flags });
    },
  },
  {
    id: 'S005',
    kernel: 'vfio_pci_get_irq_count',
    title: 'MSI count is the capability size, MSI-X the table size, REQ 1, all EVENTFD|NORESIZE',
    run(t, h) {
      const d = h.device({ msi: { vectors: 16 }, msix: { vectors: 2048 } });
      const f = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
      t.deepEqual(d.getIrqInfo(MSI), { index: MSI, count: 16, flags: f });
      t.deepEqual(d.getIrqInfo(MSIX), { index: MSIX, count: 2048, flags: f });
      t.deepEqual(d.getIrqInfo(REQ), { index: REQ, count: 1, flags: f });
      t.is(h.device().getIrqInfo(MSI).count, 0);
    },
  },
  {
    id: 'S006',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'MSI-X with dynamic allocation clears NORESIZE (has_dyn_msix); 6.1 has no dynamic MSI-X',
    run(t, h) {
      const dynamic = () => h.device({ msix: { vectors: 8, dynamic: true } });
      if (h.expect({ '6.1': false, '6.12': true, mainline: true })) {
        t.is(dynamic().getIrqInfo(MSIX).flags, VFIO_IRQ_INFO_EVENTFD);
      } else {
        t.throws(dynamic, { instanceOf: RangeError, message: /kernel '6\.1' has no dynamic MSI-X/ });
      }
      t.is(
        h.device({ msix: { vectors: 8 } }).getIrqInfo(MSIX).flags,
        VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
      );
    },
  },
  {
    id: 'S007',
    kernel: 'vfio_pci_ioctl_get_irq_info',
    title: 'extension: per-vector masking is advertised as MASKABLE on MSI and MSI-X',
    run(t, h) {
      const d = h.device({ msi: { vectors: 2, maskable: true }, msix: { vectors: 4, maskable: true } });
      t.truthy(d.getIrqInfo(MSI).flags & VFIO_IRQ_INFO_MASKABLE);
      t.truthy(d.getIrqInfo(MSIX).flags & VFIO_IRQ_INFO_MASKABLE);
      t.falsy(msiDev(h).getIrqInfo(MSIX).flags & VFIO_IRQ_INFO_MASKABLE);
    },
  },
  // ---------------------------------------------------------------- §4 validation
  {
    id: 'S008',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'argsz < 20 is -EINVAL',
    run(t, h) {
      const d = h.device();
      const before = snapshot(d);
      const e = vfioErr(() => d.setIrqs({ flags: NONE | TRIG, index: INTX, start: 0, count: 1, argsz: 19 }));
      t.is(e.code, 'EINVAL');
      t.is(e.syscall, 'VFIO_DEVICE_SET_IRQS');
      t.deepEqual(snapshot(d), before, 'EINVAL: the device is as it was');
      // A call the header check alone refuses: INTx loopback above is refused later too (INTx is not
      // enabled), so also an MSI-X loopback on a bound vector, which with argsz 20 signals it.
      const m = msiDev(h);
      const a = h.efd();
      bind(m, MSIX, 0, [a]);
      refused(
        t,
        m,
        () => m.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: 1, argsz: 19 }),
        'EINVAL',
      );
      t.is(h.read(a), 0n, 'refused: nothing signalled');
      t.is(m.setIrqs({ flags: NONE | TRIG, index: MSIX, start: 0, count: 1, argsz: 20 }), 0);
      t.is(h.read(a), 1n, 'the same call with argsz 20 is the loopback');
    },
  },
  {
    id: 'S009',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'index >= 5 is -EINVAL (before dispatch, so not -ENOTTY)',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, NONE | TRIG, 5, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE, 7, 0, 1), 'EINVAL');
    },
  },
  {
    id: 'S010',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'count >= U32_MAX - start (overflow) is -EINVAL',
    run(t, h) {
      const d = h.device({ msix: { vectors: 2048 } });
      refused(t, d, () => set(d, NONE | TRIG, MSIX, 1, 0xfffffffe), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSIX, 0, 0xffffffff), 'EINVAL');
    },
  },
  {
    id: 'S011',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'a flag bit outside DATA_TYPE_MASK|ACTION_TYPE_MASK is -EINVAL',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, NONE | TRIG | (1 << 6), INTX, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, (NONE | TRIG | 0x80000000) >>> 0, INTX, 0, 1), 'EINVAL');
      // As S008: calls that only the flag check refuses (an MSI-X loopback that would signal).
      const m = msiDev(h);
      const a = h.efd();
      bind(m, MSIX, 0, [a]);
      for (const bit of [1 << 6, 1 << 15, 0x80000000])
        refused(
          t,
          m,
          () => set(m, (NONE | TRIG | bit) >>> 0, MSIX, 0, 1),
          'EINVAL',
          `stray bit ${bit >>> 0}`,
        );
      t.is(h.read(a), 0n, 'refused: nothing signalled');
      t.is(set(m, NONE | TRIG, MSIX, 0, 1), 0);
      t.is(h.read(a), 1n, 'without the stray bit it is the loopback');
    },
  },
  {
    id: 'S012',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'start >= N or start + count > N is -EINVAL',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, NONE | TRIG, INTX, 1, 0), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSI, 0, 5), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSI, 4, 0), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSIX, 7, 2), 'EINVAL');
    },
  },
  {
    id: 'S013',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'an index with N = 0 rejects everything, even count 0 (ERR on non-PCIe, MSI absent)',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, NONE | TRIG, ERR, 0, 0), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, ERR, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSI, 0, 0), 'EINVAL');
    },
  },
  {
    id: 'S014',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'no data type, or two data types, is -EINVAL',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, TRIG, INTX, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE | BOOL | TRIG, INTX, 0, 1, new Uint8Array([1])), 'EINVAL');
      refused(t, d, () => set(d, BOOL | EFD | TRIG, INTX, 0, 1, [0]), 'EINVAL');
    },
  },
  {
    id: 'S015',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'argsz shorter than count elements (data array too short) is -EINVAL, for BOOL and EVENTFD',
    run(t, h) {
      const d = msiDev(h);
      const e = h.efd();
      refused(t, d, () => set(d, BOOL | TRIG, MSIX, 0, 2, new Uint8Array([1])), 'EINVAL');
      refused(t, d, () => set(d, EFD | TRIG, MSIX, 0, 2, [e]), 'EINVAL');
      refused(t, d, () => set(d, EFD | TRIG, INTX, 0, 1, []), 'EINVAL');
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
    },
  },
  {
    id: 'S016',
    kernel: 'vfio_set_irqs_validate_and_prepare',
    title: 'data of the wrong kind for the data type is -EINVAL',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, EFD | TRIG, MSIX, 0, 1, ['x' as unknown as number]), 'EINVAL');
      const efd1 = h.efd();
      refused(t, d, () => set(d, BOOL | TRIG, MSIX, 0, 1, [efd1 as unknown as boolean]), 'EINVAL');
      refused(t, d, () => set(d, EFD | TRIG, MSIX, 0, 1, [1.5]), 'EINVAL');
    },
  },
  // ---------------------------------------------------------------- §4 dispatch
  {
    id: 'S017',
    kernel: 'vfio_pci_set_irqs_ioctl',
    title: 'no action bit is -ENOTTY',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, NONE, INTX, 0, 1), 'ENOTTY');
      refused(t, d, () => set(d, NONE, MSI, 0, 1), 'ENOTTY');
    },
  },
  {
    id: 'S018',
    kernel: 'vfio_pci_set_irqs_ioctl',
    title: 'several action bits are -ENOTTY (the action is taken as a whole value)',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, NONE | MASK | UNMASK, INTX, 0, 1), 'ENOTTY');
      refused(t, d, () => set(d, NONE | MASK | UNMASK | TRIG, MSIX, 0, 1), 'ENOTTY');
    },
  },
  {
    id: 'S019',
    kernel: 'vfio_pci_set_irqs_ioctl',
    title: 'MSI/MSI-X MASK and UNMASK are -ENOTTY ("XXX Need masking support exported")',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, NONE | MASK, MSI, 0, 1), 'ENOTTY');
      refused(t, d, () => set(d, NONE | UNMASK, MSIX, 0, 1), 'ENOTTY');
      refused(t, d, () => set(d, BOOL | MASK, MSIX, 0, 1, new Uint8Array([1])), 'ENOTTY');
    },
  },
  {
    id: 'S020',
    kernel: 'vfio_pci_set_irqs_ioctl',
    title: 'ERR and REQ accept only TRIGGER: MASK/UNMASK are -ENOTTY',
    run(t, h) {
      const d = h.device({ pcie: true });
      refused(t, d, () => set(d, NONE | MASK, ERR, 0, 1), 'ENOTTY');
      refused(t, d, () => set(d, NONE | UNMASK, REQ, 0, 1), 'ENOTTY');
    },
  },
  // ---------------------------------------------------------------- §5 INTx trigger
  {
    id: 'S021',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'EVENTFD enables INTx (vfio_intx_enable): irq_type INTX, unmasked, trigger bound',
    run(t, h) {
      const d = h.device();
      t.is(bind(d, INTX, 0, [h.efd()]), 0);
      t.is(d.irqType, INTX);
      t.like(d.vectorTable.state(INTX, 0), { enabled: true, triggered: true, masked: false });
      t.false(d.intxHw.disIntx);
    },
  },
  {
    id: 'S022',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'a closed fd is -EBADF and INTx stays disabled',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => bind(d, INTX, 0, [closedFd()]), 'EBADF');
      const e = h.efd();
      h.close(e);
      refused(t, d, () => bind(d, INTX, 0, [e]), 'EBADF');
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
    },
  },
  {
    id: 'S023',
    kernel: 'eventfd_ctx_fdget',
    title: 'an open fd that is not an eventfd is -EINVAL',
    run(t, h) {
      const d = h.device();
      withNonEventfd((fd) => refused(t, d, () => bind(d, INTX, 0, [fd]), 'EINVAL'));
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
    },
  },
  {
    id: 'S024',
    kernel: 'vfio_intx_enable',
    title: 'no INTx line routed (pdev->irq == 0) is -ENODEV; the eventfd reference is dropped',
    run(t, h) {
      const d = h.device({ intx: { routed: false } });
      const efd2 = h.efd();
      refused(t, d, () => bind(d, INTX, 0, [efd2]), 'ENODEV');
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
    },
  },
  {
    id: 'S025',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'fd -1 with INTx off enables INTx with no trigger: an interrupt masks the line and goes nowhere',
    run(t, h) {
      const d = h.device();
      t.is(bind(d, INTX, 0, [-1]), 0);
      t.is(d.irqType, INTX);
      t.false(d.vectorTable.state(INTX, 0).triggered);
      t.is(d.assertIntx(), 'unrouted');
      t.true(d.intxHw.masked);
      t.is(d.vectorTable.counters(INTX, 0).unrouted, 1);
    },
  },
  {
    id: 'S026',
    kernel: 'vfio_intx_set_signal',
    title: 'EVENTFD on enabled INTx swaps the trigger: only the new one is signalled',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      const b = h.efd();
      bind(d, INTX, 0, [a]);
      bind(d, INTX, 0, [b]);
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(a), 0n);
      t.is(h.read(b), 1n);
    },
  },
  {
    id: 'S027',
    kernel: 'vfio_intx_set_signal',
    title: 'fd -1 on enabled INTx removes the trigger, INTx stays enabled',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      bind(d, INTX, 0, [-1]);
      t.is(d.irqType, INTX);
      t.is(d.assertIntx(), 'unrouted');
      t.is(h.read(a), 0n);
    },
  },
  {
    id: 'S028',
    kernel: 'vfio_intx_disable',
    title: 'NONE with count 0 disables INTx: trigger and virqfds released',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      set(d, EFD | UNMASK, INTX, 0, 1, [h.efd()]);
      t.is(set(d, NONE | TRIG, INTX, 0, 0), 0);
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.false(d.intxVirqfd('unmask'));
      t.like(d.vectorTable.state(INTX, 0), { enabled: false, triggered: false });
      t.is(d.assertIntx(), 'unrouted');
    },
  },
  {
    id: 'S029',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'INTx trigger while MSI or MSI-X is enabled is -EINVAL',
    run(t, h) {
      // vfio_pci_set_intx_trigger: "if (!(is_intx(vdev) || is_irq_none(vdev))) return -EINVAL;" first
      const d = msiDev(h);
      const m = h.efd();
      bind(d, MSI, 0, [m]);
      const efd3 = h.efd();
      refused(t, d, () => bind(d, INTX, 0, [efd3]), 'EINVAL');
      t.is(d.raise(MSI, 0), 'signalled', 'MSI keeps its trigger');
      t.is(h.read(m), 1n);
      t.is(d.assertIntx(), 'unrouted', 'INTx stays off');
      t.false(d.vectorTable.state(INTX, 0).enabled);
      d.deassertIntx();
      set(d, NONE | TRIG, MSI, 0, 0);
      const x = h.efd();
      bind(d, MSIX, 0, [x]);
      refused(t, d, () => bind(d, INTX, 0, [-1]), 'EINVAL');
      t.is(d.irqType, MSIX);
      t.is(d.raise(MSIX, 0), 'signalled');
      t.is(h.read(x), 1n);
      t.like(d.vectorTable.counters(INTX, 0), { raised: 0, unrouted: 1 });
    },
  },
  {
    id: 'S030',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'count 0 that is not a disable (EVENTFD, or INTx off) is -EINVAL',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, EFD | TRIG, INTX, 0, 0, []), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, INTX, 0, 0), 'EINVAL');
      bind(d, INTX, 0, [h.efd()]);
      refused(t, d, () => set(d, BOOL | TRIG, INTX, 0, 0, new Uint8Array(0)), 'EINVAL');
    },
  },
  {
    id: 'S031',
    kernel: 'vfio_send_intx_eventfd',
    title: 'NONE loopback signals the trigger, even while masked; BOOL signals only for a non-zero byte',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      set(d, NONE | MASK, INTX, 0, 1);
      t.is(set(d, NONE | TRIG, INTX, 0, 1), 0);
      t.is(h.read(a), 1n);
      set(d, BOOL | TRIG, INTX, 0, 1, new Uint8Array([0]));
      t.is(h.read(a), 0n);
      set(d, BOOL | TRIG, INTX, 0, 1, new Uint8Array([7]));
      t.is(h.read(a), 1n);
    },
  },
  {
    id: 'S032',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'NONE/BOOL loopback with INTx not enabled is -EINVAL',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, NONE | TRIG, INTX, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, BOOL | TRIG, INTX, 0, 1, new Uint8Array([1])), 'EINVAL');
    },
  },
  {
    id: 'S033',
    kernel: 'vfio_send_intx_eventfd',
    title: 'loopback while the guest has INTx disabled (virq_disabled) sends nothing',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.writeIntxDisable(true);
      set(d, NONE | TRIG, INTX, 0, 1);
      t.is(h.read(a), 0n);
    },
  },
  // ---------------------------------------------------------------- §5 the INTx interrupt
  {
    id: 'S034',
    kernel: 'vfio_intx_handler',
    title: 'PCI 2.3: an assert masks with DisINTx (automask) and signals once',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(a), 1n);
      t.like(d.intxHw, { disIntx: true, masked: true });
      d.deassertIntx();
      t.is(d.assertIntx(), 'held');
      t.is(h.read(a), 0n);
    },
  },
  {
    id: 'S035',
    kernel: 'vfio_pci_intx_unmask_handler',
    title: 'PCI 2.3: UNMASK while the device still asserts re-sends the trigger and stays masked',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.assertIntx();
      h.read(a);
      t.is(set(d, NONE | UNMASK, INTX, 0, 1), 0);
      t.is(h.read(a), 1n);
      t.like(d.intxHw, { disIntx: true, masked: true });
    },
  },
  {
    id: 'S036',
    kernel: 'vfio_pci_intx_unmask_handler',
    title: 'PCI 2.3: ack then UNMASK unmasks without a signal; the next assert fires',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.assertIntx();
      h.read(a);
      d.deassertIntx();
      set(d, NONE | UNMASK, INTX, 0, 1);
      t.is(h.read(a), 0n);
      t.like(d.intxHw, { disIntx: false, masked: false });
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(a), 1n);
    },
  },
  {
    id: 'S037',
    kernel: 'vfio_intx_handler',
    title: 'without PCI 2.3: the handler disables the line; unmask with the level high fires again',
    run(t, h) {
      const d = h.device({ intx: { pci23: false } });
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      t.is(d.assertIntx(), 'signalled');
      t.like(d.intxHw, { irqDepth: 1, masked: true, disIntx: false });
      h.read(a);
      set(d, NONE | UNMASK, INTX, 0, 1);
      t.is(h.read(a), 1n, 'enable_irq on a level still asserted interrupts again');
      t.like(d.intxHw, { irqDepth: 1, masked: true });
    },
  },
  {
    id: 'S038',
    kernel: 'vfio_pci_intx_unmask_handler',
    title: 'without PCI 2.3: ack then unmask re-enables the line, no signal',
    run(t, h) {
      const d = h.device({ intx: { pci23: false } });
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.assertIntx();
      h.read(a);
      d.deassertIntx();
      set(d, NONE | UNMASK, INTX, 0, 1);
      t.is(h.read(a), 0n);
      t.like(d.intxHw, { irqDepth: 0, masked: false });
    },
  },
  {
    id: 'S039',
    kernel: 'vfio_intx_handler',
    title: 'an assert with INTx not enabled goes nowhere (unrouted, not raised)',
    run(t, h) {
      const d = h.device();
      t.is(d.assertIntx(), 'unrouted');
      t.like(d.vectorTable.counters(INTX, 0), { unrouted: 1, raised: 0 });
    },
  },
  {
    id: 'S040',
    kernel: 'vfio_pci_intx_unmask_handler',
    title: 'a level withdrawn while masked never fires: held, then dropped on deassert',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      set(d, NONE | MASK, INTX, 0, 1);
      t.is(d.assertIntx(), 'held');
      d.deassertIntx();
      set(d, NONE | UNMASK, INTX, 0, 1);
      t.is(h.read(a), 0n);
      t.like(d.vectorTable.counters(INTX, 0), { raised: 1, dropped: 1, pending: 0 });
    },
  },
  {
    id: 'S041',
    kernel: 'vfio_intx_handler',
    title: 'an assert while the line is already high is coalesced into the interrupt already raised',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.assertIntx();
      t.is(d.assertIntx(), 'coalesced');
      t.is(h.read(a), 1n);
      d.vectorTable.recordConsumed(INTX, 0, 1);
      t.deepEqual(d.vectorTable.checkInvariant(), []);
    },
  },
  // ---------------------------------------------------------------- §5 INTx MASK / UNMASK
  {
    id: 'S042',
    kernel: 'vfio_pci_set_intx_mask',
    title: 'MASK and UNMASK need INTx enabled (else -EINVAL)',
    run(t, h) {
      const d = h.device();
      refused(t, d, () => set(d, NONE | MASK, INTX, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE | UNMASK, INTX, 0, 1), 'EINVAL');
      const efd4 = h.efd();
      refused(t, d, () => set(d, EFD | UNMASK, INTX, 0, 1, [efd4]), 'EINVAL');
    },
  },
  {
    id: 'S043',
    kernel: 'vfio_pci_set_intx_mask',
    title: 'MASK NONE masks; an assert is then held; a second MASK is a no-op',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      t.is(set(d, NONE | MASK, INTX, 0, 1), 0);
      t.like(d.intxHw, { masked: true, disIntx: true });
      t.is(set(d, NONE | MASK, INTX, 0, 1), 0);
      t.is(d.assertIntx(), 'held');
      t.is(h.read(a), 0n);
      set(d, NONE | UNMASK, INTX, 0, 1);
      t.is(h.read(a), 1n, 'UNMASK after a masked raise delivers it');
    },
  },
  {
    id: 'S044',
    kernel: 'vfio_pci_set_intx_mask',
    title: 'MASK BOOL: a zero byte does nothing, a non-zero byte masks',
    run(t, h) {
      const d = h.device();
      bind(d, INTX, 0, [h.efd()]);
      set(d, BOOL | MASK, INTX, 0, 1, new Uint8Array([0]));
      t.false(d.intxHw.masked);
      set(d, BOOL | MASK, INTX, 0, 1, [true]);
      t.true(d.intxHw.masked);
    },
  },
  {
    id: 'S045',
    kernel: 'vfio_pci_set_intx_mask',
    title: 'MASK EVENTFD is -ENOTTY ("XXX implement me")',
    async run(t, h) {
      const d = h.device();
      const x = h.efd();
      bind(d, INTX, 0, [x]);
      const m = h.efd();
      refused(t, d, () => set(d, EFD | MASK, INTX, 0, 1, [m]), 'ENOTTY');
      t.false(d.intxVirqfd('mask'));
      h.write(m);
      await settle();
      t.false(d.intxHw.masked, 'nothing listens on the refused eventfd');
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(x), 1n);
    },
  },
  {
    id: 'S046',
    kernel: 'vfio_pci_set_intx_mask',
    title: 'extension: MASK EVENTFD installs a virqfd that masks on write; fd -1 removes it',
    async run(t, h) {
      const d = h.device({ intx: { maskEventfd: true } });
      bind(d, INTX, 0, [h.efd()]);
      const m = h.efd();
      t.is(set(d, EFD | MASK, INTX, 0, 1, [m]), 0);
      t.true(d.intxVirqfd('mask'));
      h.write(m);
      await until(() => d.intxHw.masked, 'mask by eventfd');
      set(d, EFD | MASK, INTX, 0, 1, [-1]);
      t.false(d.intxVirqfd('mask'));
    },
  },
  {
    id: 'S047',
    kernel: 'vfio_pci_set_intx_unmask',
    title: 'UNMASK BOOL: a zero byte does nothing, a non-zero byte unmasks',
    run(t, h) {
      const d = h.device();
      bind(d, INTX, 0, [h.efd()]);
      set(d, NONE | MASK, INTX, 0, 1);
      set(d, BOOL | UNMASK, INTX, 0, 1, new Uint8Array([0]));
      t.true(d.intxHw.masked);
      set(d, BOOL | UNMASK, INTX, 0, 1, new Uint8Array([1]));
      t.false(d.intxHw.masked);
    },
  },
  {
    id: 'S048',
    kernel: 'vfio_virqfd_enable',
    title: 'UNMASK EVENTFD: a write to the eventfd unmasks (the virqfd handler)',
    async run(t, h) {
      const d = h.device();
      const a = h.efd();
      const u = h.efd();
      bind(d, INTX, 0, [a]);
      t.is(set(d, EFD | UNMASK, INTX, 0, 1, [u]), 0);
      t.true(d.intxVirqfd('unmask'));
      d.assertIntx();
      h.read(a);
      d.deassertIntx();
      h.write(u);
      await until(() => !d.intxHw.masked, 'unmask by eventfd');
      t.is(h.read(a), 0n);
      t.is(d.assertIntx(), 'signalled');
    },
  },
  {
    id: 'S049',
    kernel: 'vfio_virqfd_enable',
    title: 'a second UNMASK virqfd on the same slot is -EBUSY (checked after the fd)',
    async run(t, h) {
      const d = h.device();
      const x = h.efd();
      bind(d, INTX, 0, [x]);
      const u = h.efd();
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      refused(t, d, () => set(d, EFD | UNMASK, INTX, 0, 1, [u]), 'EBUSY');
      refused(t, d, () => set(d, EFD | UNMASK, INTX, 0, 1, [closedFd()]), 'EBADF');
      t.true(d.intxVirqfd('unmask'));
      // the first virqfd is untouched and still unmasks: assert (automask), ack, write the eventfd
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(x), 1n);
      d.deassertIntx();
      t.true(d.intxHw.masked);
      h.write(u);
      await until(() => !d.intxHw.masked, 'unmask by the first virqfd');
      t.is(d.assertIntx(), 'signalled');
    },
  },
  {
    id: 'S050',
    kernel: 'vfio_virqfd_enable',
    title: 'UNMASK EVENTFD with a closed fd is -EBADF, with a non-eventfd -EINVAL',
    run(t, h) {
      const d = h.device();
      bind(d, INTX, 0, [h.efd()]);
      refused(t, d, () => set(d, EFD | UNMASK, INTX, 0, 1, [closedFd()]), 'EBADF');
      withNonEventfd((fd) => refused(t, d, () => set(d, EFD | UNMASK, INTX, 0, 1, [fd]), 'EINVAL'));
      t.false(d.intxVirqfd('unmask'));
      t.like(d.vectorTable.state(INTX, 0), { enabled: true, triggered: true, masked: false });
    },
  },
  {
    id: 'S051',
    kernel: 'vfio_virqfd_disable',
    title: 'UNMASK EVENTFD -1 removes the virqfd: later writes do nothing',
    async run(t, h) {
      const d = h.device();
      const u = h.efd();
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      set(d, EFD | UNMASK, INTX, 0, 1, [-1]);
      t.false(d.intxVirqfd('unmask'));
      set(d, NONE | MASK, INTX, 0, 1);
      h.write(u);
      await settle();
      t.true(d.intxHw.masked);
      t.is(h.read(u), 1n, 'nobody consumed the write');
    },
  },
  {
    id: 'S052',
    kernel: 'vfio_virqfd_enable',
    title: 'a count already pending at registration is handled at once (no event is missed)',
    async run(t, h) {
      const d = h.device();
      bind(d, INTX, 0, [h.efd()]);
      set(d, NONE | MASK, INTX, 0, 1);
      const u = h.efd({ initval: 1 });
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      t.false(d.intxHw.masked, 'unmasked synchronously by the registration check');
      t.is(h.read(u), 1n, 'registration does not consume the count (mainline)');
    },
  },
  {
    id: 'S053',
    kernel: 'virqfd_inject',
    title: 'unmask-by-eventfd with the line still asserted: the deferred thread re-sends the trigger',
    async run(t, h) {
      const d = h.device();
      const a = h.efd();
      const u = h.efd();
      bind(d, INTX, 0, [a]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      d.assertIntx();
      h.read(a);
      h.write(u);
      await until(() => h.kit.peek(a) === 1n, 'trigger re-sent by the virqfd thread');
      t.is(h.read(a), 1n);
      t.true(d.intxHw.masked);
    },
  },
  {
    id: 'S054',
    kernel: 'schedule_work',
    title: 'deferred work coalesces: two unmask writes before the thread runs send one trigger',
    async run(t, h) {
      const d = h.device();
      const a = h.efd();
      const u = h.efd();
      bind(d, INTX, 0, [a]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      d.assertIntx();
      h.read(a);
      h.write(u);
      h.write(u);
      await until(() => h.kit.peek(a) >= 1n, 'trigger re-sent');
      await settle();
      t.is(h.read(a), 1n);
    },
  },
  {
    id: 'S055',
    kernel: 'virqfd_wakeup',
    title:
      'closing the unmask eventfd is its release: POLLHUP frees the slot, so the next UNMASK eventfd is 0 (d01 in test/vm)',
    async run(t, h) {
      const d = h.device();
      const [u1, u2] = [h.efd(), h.efd()];
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u1]);
      t.is(
        errno(() => set(d, EFD | UNMASK, INTX, 0, 1, [u2])),
        'EBUSY',
      );
      set(d, EFD | UNMASK, INTX, 0, 1, [-1]);
      closeKernelProbe();
      const before = openFds();
      set(d, EFD | UNMASK, INTX, 0, 1, [u2]);
      h.close(u2);
      await settle();
      t.false(d.intxVirqfd('unmask'), 'the slot was cleared by the release');
      closeKernelProbe();
      const gone = [...before].filter((fd) => !openFds().has(fd));
      t.true(
        [...openFds()].every((fd) => before.has(fd)),
        'virq closed its own reference (and its watch) with the virqfd',
      );
      t.is(gone.length, h.kit.name === 'native' ? 1 : 0, "only the caller's fd is gone");
      t.is(set(d, EFD | UNMASK, INTX, 0, 1, [u1]), 0, 'the slot is free again');
      t.true(d.intxVirqfd('unmask'));
    },
  },
  {
    id: 'S056',
    kernel: 'vfio_intx_disable',
    title: 'disabling INTx flushes and tears down its virqfds: later writes change nothing',
    async run(t, h) {
      const d = h.device();
      const u = h.efd();
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      set(d, NONE | TRIG, INTX, 0, 0);
      h.write(u);
      await settle();
      t.is(h.read(u), 1n);
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
    },
  },
  {
    id: 'S057',
    kernel: 'vfio_basic_config_write',
    title: 'the guest setting INTx Disable masks; clearing it unmasks and re-sends a pending interrupt',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      bind(d, INTX, 0, [a]);
      d.writeIntxDisable(true);
      t.true(d.intxHw.masked);
      t.is(d.assertIntx(), 'unrouted', 'virq_disabled: the interrupt is not for the guest');
      t.is(h.read(a), 0n);
      d.writeIntxDisable(false);
      t.is(h.read(a), 1n, 'the still-asserted line is re-sent');
      t.false(d.intxDisabled);
    },
  },
  {
    id: 'S058',
    kernel: 'vfio_intx_enable',
    title: 'enabling INTx while the guest has it disabled starts masked',
    run(t, h) {
      const d = h.device();
      d.writeIntxDisable(true);
      bind(d, INTX, 0, [h.efd()]);
      t.like(d.intxHw, { masked: true, disIntx: true });
      t.true(d.vectorTable.state(INTX, 0).masked);
    },
  },
  {
    id: 'S059',
    kernel: '__vfio_pci_intx_mask',
    title: 'with INTx not in use, the guest INTx Disable bit still drives the physical DisINTx bit',
    run(t, h) {
      const d = h.device();
      d.writeIntxDisable(true);
      t.true(d.intxHw.disIntx);
      d.writeIntxDisable(false);
      t.false(d.intxHw.disIntx);
    },
  },
  // ---------------------------------------------------------------- §6 MSI / MSI-X
  {
    id: 'S060',
    kernel: 'vfio_msi_enable',
    title: 'EVENTFD enables MSI with start + count vectors; msi_qmax = log2 rounded up',
    run(t, h) {
      const d = msiDev(h);
      t.is(bind(d, MSI, 1, [h.efd(), h.efd()]), 0);
      t.is(d.irqType, MSI);
      t.is(d.allocatedVectors, 3);
      t.is(d.msiQmax, 2);
      t.like(d.vectorTable.state(MSI, 0), { enabled: true, triggered: false });
      t.like(d.vectorTable.state(MSI, 2), { enabled: true, triggered: true });
      t.false(d.vectorTable.state(MSI, 3).enabled);
    },
  },
  {
    id: 'S061',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'MSI with INTx enabled, or MSI with MSI-X enabled, is -EINVAL',
    run(t, h) {
      // "if (!(irq_is(vdev, index) || is_irq_none(vdev))) return -EINVAL;" comes before anything is
      // touched: the enabled index keeps its trigger and delivers, MSI stays off (its messages unrouted)
      const d = msiDev(h);
      const x = h.efd();
      bind(d, INTX, 0, [x]);
      const efd5 = h.efd();
      refused(t, d, () => bind(d, MSI, 0, [efd5]), 'EINVAL');
      t.is(d.irqType, INTX);
      t.like(d.vectorTable.state(INTX, 0), { enabled: true, triggered: true, masked: false });
      t.false(d.vectorTable.state(MSI, 0).enabled);
      t.is(d.allocatedVectors, 0);
      t.is(d.assertIntx(), 'signalled');
      t.is(h.read(x), 1n);
      d.deassertIntx();
      t.is(d.raise(MSI, 0), 'unrouted');
      t.like(d.vectorTable.counters(MSI, 0), { raised: 0, unrouted: 1 });
      t.like(d.vectorTable.counters(INTX, 0), { raised: 1, delivered: 0, pending: 1 });
      set(d, NONE | TRIG, INTX, 0, 0);
      const m = h.efd();
      bind(d, MSIX, 0, [m]);
      const efd6 = h.efd();
      refused(t, d, () => bind(d, MSI, 0, [efd6]), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSI, 0, 1), 'EINVAL');
      t.is(d.irqType, MSIX);
      t.is(d.allocatedVectors, 1);
      t.like(d.vectorTable.state(MSIX, 0), { enabled: true, triggered: true });
      t.is(d.raise(MSIX, 0), 'signalled');
      t.is(h.read(m), 1n);
      t.like(
        d.vectorTable.counters(MSI, 0),
        { raised: 0, unrouted: 1 },
        'the loopback signalled no MSI vector',
      );
    },
  },
  {
    id: 'S062',
    kernel: 'vfio_msihandler',
    title: 'an MSI-X message signals its own vector’s eventfd and no other',
    run(t, h) {
      const d = msiDev(h);
      const e = [h.efd(), h.efd(), h.efd()];
      bind(d, MSIX, 0, e);
      t.is(d.raise(MSIX, 1), 'signalled');
      t.deepEqual(
        e.map((x) => h.read(x)),
        [0n, 1n, 0n],
      );
    },
  },
  {
    id: 'S063',
    kernel: 'vfio_msi_set_vector_signal',
    title: 'fd -1 detaches a vector: its messages go nowhere; re-attach to another eventfd works',
    run(t, h) {
      const d = msiDev(h);
      const a = h.efd();
      const b = h.efd();
      bind(d, MSIX, 0, [a, h.efd()]);
      bind(d, MSIX, 1, [-1]);
      t.is(d.raise(MSIX, 1), 'unrouted');
      bind(d, MSIX, 1, [b]);
      t.is(d.raise(MSIX, 1), 'signalled');
      t.is(h.read(b), 1n);
      t.is(h.read(a), 0n);
    },
  },
  {
    id: 'S064',
    kernel: 'vfio_msi_disable',
    title: 'NONE count 0 disables: triggers released, vectors freed, raises unrouted',
    run(t, h) {
      const d = msiDev(h);
      const a = h.efd();
      bind(d, MSIX, 0, [a, h.efd()]);
      t.is(set(d, NONE | TRIG, MSIX, 0, 0), 0);
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.is(d.allocatedVectors, 0);
      t.is(d.raise(MSIX, 0), 'unrouted');
      t.is(h.read(a), 0n);
    },
  },
  {
    id: 'S065',
    kernel: 'vfio_msi_set_block',
    title: 'a bad fd mid-block unwinds [start, failing] to no trigger; vectors outside keep theirs',
    run(t, h) {
      const d = msiDev(h);
      const e = [h.efd(), h.efd(), h.efd(), h.efd()];
      bind(d, MSIX, 0, e);
      t.is(
        errno(() => bind(d, MSIX, 1, [h.efd(), closedFd()])),
        'EBADF',
      );
      t.true(d.vectorTable.state(MSIX, 0).triggered);
      t.false(d.vectorTable.state(MSIX, 1).triggered);
      t.false(d.vectorTable.state(MSIX, 2).triggered, 'the old trigger of the failing vector is gone too');
      t.true(d.vectorTable.state(MSIX, 3).triggered);
      t.is(d.irqType, MSIX);
    },
  },
  {
    id: 'S066',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'enable + set_block failure disables the index again: nothing stays enabled',
    run(t, h) {
      const d = msiDev(h);
      withNonEventfd((fd) =>
        t.is(
          errno(() => bind(d, MSIX, 0, [h.efd(), fd])),
          'EINVAL',
        ),
      );
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.is(d.allocatedVectors, 0);
      t.false(d.vectorTable.state(MSIX, 0).triggered);
    },
  },
  {
    id: 'S067',
    kernel: 'vfio_msi_enable',
    title: 'a platform shortfall returns the number of vectors available and enables nothing',
    run(t, h) {
      const d = h.device({ msix: { vectors: 8 }, grantVectors: 2 });
      t.is(bind(d, MSIX, 0, [h.efd(), h.efd(), h.efd()]), 2);
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.is(d.allocatedVectors, 0);
      t.is(bind(d, MSIX, 0, [h.efd(), h.efd()]), 0);
    },
  },
  {
    id: 'S068',
    kernel: 'pci_alloc_irq_vectors',
    title: 'EVENTFD start 0 count 0 with the index off asks for 0 vectors: -ERANGE',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, EFD | TRIG, MSIX, 0, 0, []), 'ERANGE');
      // vfio_msi_enable failed before it set irq_type: MSI-X is off, its vectors unallocated
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.is(d.allocatedVectors, 0);
      t.is(d.raise(MSIX, 0), 'unrouted');
    },
  },
  {
    id: 'S069',
    kernel: 'vfio_pci_set_msi_trigger',
    title:
      'EVENTFD start 3 count 0 with the index off enables 3 vectors with no triggers (6.1: start >= num_ctx, -EINVAL, disabled again)',
    run(t, h) {
      const d = msiDev(h);
      const ok = h.expect({ '6.1': false, '6.12': true, mainline: true });
      if (ok) t.is(set(d, EFD | TRIG, MSIX, 3, 0, []), 0);
      else
        t.is(
          errno(() => set(d, EFD | TRIG, MSIX, 3, 0, [])),
          'EINVAL',
        );
      t.is(d.irqType, ok ? MSIX : VFIO_PCI_NUM_IRQS);
      t.is(d.allocatedVectors, ok ? 3 : 0);
      t.is(d.raise(MSIX, 0), 'unrouted');
    },
  },
  {
    id: 'S070',
    kernel: 'vfio_msi_alloc_irq',
    title: 'without dynamic MSI-X a vector beyond those enabled is -EINVAL for an fd, 0 for -1',
    run(t, h) {
      const d = msiDev(h);
      bind(d, MSIX, 0, [h.efd(), h.efd()]);
      const efd7 = h.efd();
      refused(t, d, () => bind(d, MSIX, 2, [efd7]), 'EINVAL');
      refused(t, d, () => bind(d, MSIX, 2, [closedFd()]), 'EINVAL', 'the vector is checked before the fd');
      // mainline: fd -1 on a never-allocated vector is a no-op; 6.1: past num_ctx, -EINVAL
      const past = () => bind(d, MSIX, 5, [-1]);
      if (h.expect({ '6.1': false, '6.12': true, mainline: true })) {
        const before = snapshot(d);
        t.is(past(), 0);
        t.deepEqual(snapshot(d), before, 'a no-op: nothing allocated, nothing bound');
      } else refused(t, d, past, 'EINVAL');
      t.is(d.allocatedVectors, 2);
      t.false(d.vectorTable.state(MSIX, 2).enabled, 'no vector was allocated for the refused fd');
      t.true(d.vectorTable.state(MSIX, 1).triggered, 'the enabled vectors keep their triggers');
    },
  },
  {
    id: 'S071',
    kernel: 'vfio_msi_alloc_irq',
    title: 'with dynamic MSI-X a vector is added while enabled (pci_msix_alloc_irq_at); not on 6.1',
    run(t, h) {
      if (!h.expect({ '6.1': false, '6.12': true, mainline: true })) {
        t.throws(() => h.device({ msix: { vectors: 8, dynamic: true } }), { instanceOf: RangeError });
        return;
      }
      const d = h.device({ msix: { vectors: 8, dynamic: true } });
      bind(d, MSIX, 0, [h.efd(), h.efd()]);
      const e = h.efd();
      t.is(bind(d, MSIX, 5, [e]), 0);
      t.is(d.allocatedVectors, 3);
      t.is(d.raise(MSIX, 5), 'signalled');
      t.is(h.read(e), 1n);
    },
  },
  {
    id: 'S072',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'NONE loopback signals every vector in range that has a trigger; BOOL only where non-zero',
    run(t, h) {
      const d = msiDev(h);
      const a = h.efd();
      const c = h.efd();
      bind(d, MSIX, 0, [a, -1, c]);
      t.is(set(d, NONE | TRIG, MSIX, 0, 3), 0);
      t.deepEqual([h.read(a), h.read(c)], [1n, 1n]);
      set(d, BOOL | TRIG, MSIX, 0, 3, new Uint8Array([0, 1, 1]));
      t.deepEqual([h.read(a), h.read(c)], [0n, 1n]);
    },
  },
  {
    id: 'S073',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'loopback or disable on an index that is not enabled is -EINVAL',
    run(t, h) {
      const d = msiDev(h);
      refused(t, d, () => set(d, NONE | TRIG, MSIX, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, MSIX, 0, 0), 'EINVAL');
      refused(t, d, () => set(d, BOOL | TRIG, MSI, 0, 1, new Uint8Array([1])), 'EINVAL');
      // with MSI-X on, a loopback on MSI is refused by "if (!irq_is(vdev, index)) return -EINVAL;"
      // before the loop: MSI-X's bound vector is not signalled
      const m = h.efd();
      bind(d, MSIX, 0, [m]);
      refused(t, d, () => set(d, NONE | TRIG, MSI, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, BOOL | TRIG, MSI, 0, 1, new Uint8Array([1])), 'EINVAL');
      t.is(h.read(m), 0n);
    },
  },
  {
    id: 'S074',
    kernel: 'vfio_msi_set_block',
    title: 'EVENTFD count 0 on an enabled index changes nothing (6.1: start 1 >= num_ctx 1 is -EINVAL)',
    run(t, h) {
      const d = msiDev(h);
      bind(d, MSIX, 0, [h.efd()]);
      const call = () => set(d, EFD | TRIG, MSIX, 1, 0, []);
      if (h.expect({ '6.1': false, '6.12': true, mainline: true })) {
        const before = snapshot(d);
        t.is(call(), 0);
        t.deepEqual(snapshot(d), before, 'count 0: the loop over no vectors changes nothing');
      } else refused(t, d, call, 'EINVAL');
      t.is(set(d, EFD | TRIG, MSIX, 0, 0, []), 0, 'start 0 count 0 is in range everywhere');
      t.true(d.vectorTable.state(MSIX, 0).triggered);
      t.is(d.allocatedVectors, 1);
    },
  },
  {
    id: 'S075',
    kernel: 'vfio_msi_set_vector_signal',
    title: 'swapping to a bad fd frees the old trigger first: the vector is left without one',
    run(t, h) {
      const d = msiDev(h);
      const a = h.efd();
      bind(d, MSIX, 0, [a]);
      t.is(
        errno(() => bind(d, MSIX, 0, [closedFd()])),
        'EBADF',
      );
      t.false(d.vectorTable.state(MSIX, 0).triggered);
      t.is(d.raise(MSIX, 0), 'unrouted');
    },
  },
  {
    id: 'S076',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'MSI-X EVENTFD on an enabled index may mix rebinding and new fds within range',
    run(t, h) {
      const d = msiDev(h);
      bind(d, MSIX, 0, [h.efd(), h.efd(), h.efd()]);
      const x = h.efd();
      t.is(bind(d, MSIX, 1, [x, x]), 0);
      d.raise(MSIX, 1);
      d.raise(MSIX, 2);
      t.is(h.read(x), 2n, 'one eventfd may serve several vectors');
    },
  },
  {
    id: 'S077',
    kernel: 'vfio_pci_set_msi_trigger (extension)',
    title: 'MSI-X per-vector MASK holds a raise in the pending bit; UNMASK delivers it once',
    run(t, h) {
      const d = h.device({ msix: { vectors: 4, maskable: true } });
      const a = h.efd();
      bind(d, MSIX, 0, [a, h.efd()]);
      t.is(set(d, NONE | MASK, MSIX, 0, 1), 0);
      t.is(d.raise(MSIX, 0), 'held');
      t.is(d.raise(MSIX, 0), 'coalesced');
      t.is(h.read(a), 0n);
      t.true(d.vectorTable.state(MSIX, 0).pendingBit);
      t.is(set(d, NONE | UNMASK, MSIX, 0, 1), 0);
      t.is(h.read(a), 1n);
      set(d, NONE | UNMASK, MSIX, 0, 1);
      t.is(h.read(a), 0n, 'a second unmask has nothing to deliver');
    },
  },
  {
    id: 'S078',
    kernel: 'vfio_pci_set_msi_trigger (extension)',
    title: 'MSI mask extension: index off is -EINVAL; BOOL selects vectors; EVENTFD installs unmask virqfds',
    async run(t, h) {
      const d = h.device({ msi: { vectors: 4, maskable: true } });
      t.is(
        errno(() => set(d, NONE | MASK, MSI, 0, 1)),
        'EINVAL',
      );
      const a = h.efd();
      const b = h.efd();
      bind(d, MSI, 0, [a, b]);
      set(d, BOOL | MASK, MSI, 0, 2, new Uint8Array([0, 1]));
      t.false(d.vectorTable.state(MSI, 0).masked);
      t.true(d.vectorTable.state(MSI, 1).masked);
      d.raise(MSI, 1);
      const u = h.efd();
      t.is(set(d, EFD | UNMASK, MSI, 1, 1, [u]), 0);
      h.write(u);
      await until(() => !d.vectorTable.state(MSI, 1).masked, 'unmask by eventfd');
      t.is(h.read(b), 1n);
    },
  },
  {
    id: 'S079',
    kernel: 'vfio_msi_disable (extension)',
    title: 'disabling with an interrupt held by a mask drops it (counted), the invariant holds',
    run(t, h) {
      const d = h.device({ msix: { vectors: 4, maskable: true } });
      bind(d, MSIX, 0, [h.efd()]);
      set(d, NONE | MASK, MSIX, 0, 1);
      d.raise(MSIX, 0);
      set(d, NONE | TRIG, MSIX, 0, 0);
      t.like(d.vectorTable.counters(MSIX, 0), { raised: 1, dropped: 1, pending: 0 });
      t.deepEqual(d.vectorTable.checkInvariant(), []);
    },
  },
  // ---------------------------------------------------------------- §7 ERR and REQ
  {
    id: 'S080',
    kernel: 'vfio_pci_set_err_trigger',
    title: 'ERR EVENTFD binds; an AER error event signals it',
    run(t, h) {
      const d = h.device({ pcie: true });
      const e = h.efd();
      t.is(bind(d, ERR, 0, [e]), 0);
      t.is(d.raise(ERR), 'signalled');
      t.is(h.read(e), 1n);
    },
  },
  {
    id: 'S081',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title: 'NONE with no trigger bound is -EINVAL (count 1 and count 0)',
    run(t, h) {
      const d = h.device({ pcie: true });
      refused(t, d, () => set(d, NONE | TRIG, ERR, 0, 1), 'EINVAL');
      refused(t, d, () => set(d, NONE | TRIG, REQ, 0, 0), 'EINVAL');
      // the refusal is REQ's own (its ctx has no trigger): ERR's bound trigger is untouched
      const e = h.efd();
      bind(d, ERR, 0, [e]);
      refused(t, d, () => set(d, NONE | TRIG, REQ, 0, 1), 'EINVAL');
      t.is(d.raise(ERR), 'signalled');
      t.is(h.read(e), 1n);
      t.is(d.raise(REQ), 'unrouted');
    },
  },
  {
    id: 'S082',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title: 'NONE count 1 signals the bound trigger; NONE count 0 releases it',
    run(t, h) {
      const d = h.device({ pcie: true });
      const e = h.efd();
      bind(d, REQ, 0, [e]);
      t.is(set(d, NONE | TRIG, REQ, 0, 1), 0);
      t.is(h.read(e), 1n);
      t.is(set(d, NONE | TRIG, REQ, 0, 0), 0);
      t.is(d.raise(REQ), 'unrouted');
      t.false(d.vectorTable.state(REQ, 0).triggered);
    },
  },
  {
    id: 'S083',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title: 'BOOL and EVENTFD with count 0 are -EINVAL',
    run(t, h) {
      const d = h.device({ pcie: true });
      refused(t, d, () => set(d, BOOL | TRIG, ERR, 0, 0, new Uint8Array(0)), 'EINVAL');
      refused(t, d, () => set(d, EFD | TRIG, REQ, 0, 0, []), 'EINVAL');
    },
  },
  {
    id: 'S084',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title: 'BOOL signals for a non-zero byte and is 0 with no trigger bound',
    run(t, h) {
      const d = h.device({ pcie: true });
      t.is(set(d, BOOL | TRIG, ERR, 0, 1, new Uint8Array([1])), 0);
      const e = h.efd();
      bind(d, ERR, 0, [e]);
      set(d, BOOL | TRIG, ERR, 0, 1, new Uint8Array([0]));
      t.is(h.read(e), 0n);
      set(d, BOOL | TRIG, ERR, 0, 1, new Uint8Array([1]));
      t.is(h.read(e), 1n);
    },
  },
  {
    id: 'S085',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title:
      'EVENTFD -1 releases (also with none bound); any other negative fd is -EINVAL (6.1: 0, nothing changes)',
    run(t, h) {
      const d = h.device({ pcie: true });
      t.is(bind(d, ERR, 0, [-1]), 0);
      bind(d, ERR, 0, [h.efd()]);
      for (const fd of [-2, -0x80000000]) {
        if (h.expect({ '6.1': false, '6.12': true, mainline: true })) {
          t.is(
            errno(() => bind(d, ERR, 0, [fd])),
            'EINVAL',
          );
          t.is(
            errno(() => bind(d, REQ, 0, [fd])),
            'EINVAL',
          );
        } else {
          t.is(bind(d, ERR, 0, [fd]), 0);
          t.is(bind(d, REQ, 0, [fd]), 0);
        }
      }
      t.true(d.vectorTable.state(ERR, 0).triggered);
      t.is(bind(d, ERR, 0, [-1]), 0);
      t.false(d.vectorTable.state(ERR, 0).triggered);
    },
  },
  {
    id: 'S086',
    kernel: 'vfio_pci_set_req_trigger',
    title: 'REQ: a bad fd is -EBADF (old trigger kept), a non-eventfd -EINVAL; a request signals',
    run(t, h) {
      const d = h.device();
      const e = h.efd();
      bind(d, REQ, 0, [e]);
      refused(t, d, () => bind(d, REQ, 0, [closedFd()]), 'EBADF');
      withNonEventfd((fd) => refused(t, d, () => bind(d, REQ, 0, [fd]), 'EINVAL'));
      t.is(d.raise(REQ), 'signalled');
      t.is(h.read(e), 1n);
    },
  },
  {
    id: 'S087',
    kernel: 'vfio_pci_set_ctx_trigger_single',
    title: 'rebinding ERR swaps the eventfd: only the new one is signalled',
    run(t, h) {
      const d = h.device({ pcie: true });
      const a = h.efd();
      const b = h.efd();
      bind(d, ERR, 0, [a]);
      bind(d, ERR, 0, [b]);
      d.raise(ERR);
      t.deepEqual([h.read(a), h.read(b)], [0n, 1n]);
    },
  },
  // ---------------------------------------------------------------- §8 virqfd and lifetime
  {
    id: 'S088',
    kernel: 'eventfd_ctx_fdget',
    title: 'the device holds its own reference: the caller may close its eventfd and the trigger still works',
    run(t, h) {
      const d = msiDev(h);
      const e = h.efd();
      bind(d, MSIX, 0, [e]);
      h.close(e);
      t.is(d.raise(MSIX, 0), 'signalled');
      t.true(d.vectorTable.state(MSIX, 0).triggered);
    },
  },
  {
    id: 'S089',
    kernel: 'vfio_pci_core_close_device',
    title: 'closing the device releases every trigger and virqfd and clears virq_disabled',
    run(t, h) {
      const d = h.device({ pcie: true, msix: { vectors: 4 } });
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [h.efd()]);
      bind(d, ERR, 0, [h.efd()]);
      bind(d, REQ, 0, [h.efd()]);
      d.writeIntxDisable(true);
      d.close();
      t.is(d.irqType, VFIO_PCI_NUM_IRQS);
      t.false(d.intxDisabled);
      for (const i of [ERR, REQ]) t.false(d.vectorTable.state(i, 0).triggered);
      t.is(bind(d, MSIX, 0, [h.efd()]), 0, 'usable again after close');
    },
  },
  {
    id: 'S090',
    kernel: 'vfio_msihandler',
    title: 'accounting: raised = delivered + coalesced + pending (+ dropped) through raise, read and record',
    run(t, h) {
      const d = msiDev(h);
      const e = h.efd();
      bind(d, MSIX, 0, [e]);
      for (let i = 0; i < 5; i++) d.raise(MSIX, 0);
      t.like(d.vectorTable.counters(MSIX, 0), { raised: 5, pending: 5, delivered: 0 });
      t.is(d.vectorTable.consume(MSIX, 0), 5n);
      t.like(d.vectorTable.counters(MSIX, 0), { raised: 5, pending: 0, delivered: 1, coalesced: 4 });
      t.deepEqual(d.vectorTable.checkInvariant(), []);
    },
  },
  {
    id: 'S091',
    kernel: 'vfio_pci_set_msi_trigger',
    title: 'a semaphore eventfd as trigger: each read returns 1 and counts one delivery',
    run(t, h) {
      const d = msiDev(h);
      const e = h.efd({ semaphore: true });
      bind(d, MSIX, 0, [e]);
      d.raise(MSIX, 0);
      d.raise(MSIX, 0);
      t.is(d.vectorTable.consume(MSIX, 0), 1n);
      t.is(d.vectorTable.consume(MSIX, 0), 1n);
      t.is(d.vectorTable.consume(MSIX, 0), 0n);
      t.like(d.vectorTable.counters(MSIX, 0), { delivered: 2, coalesced: 0, pending: 0 });
    },
  },
  {
    id: 'S092',
    kernel: 'vfio_pci_set_intx_trigger',
    title: 'an INTx level asserted before INTx is enabled fires as soon as the handler is registered',
    run(t, h) {
      const d = h.device();
      const a = h.efd();
      d.assertIntx();
      bind(d, INTX, 0, [a]);
      t.is(h.read(a), 1n);
      t.true(d.intxHw.masked);
    },
  },
  // ---------------------------------------------------------------- eventfd release (POLLHUP)
  {
    id: 'S093',
    kernel: 'virqfd_wakeup',
    title:
      'a write to the unmask eventfd just before its close is still handled: the unmask runs, then POLLHUP',
    async run(t, h) {
      const d = h.device();
      const u = h.efd();
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      d.assertIntx();
      d.deassertIntx();
      t.true(d.intxHw.masked, 'automasked');
      h.write(u);
      h.close(u); // no turn of the event loop in between: the kernel saw the write first all the same
      t.false(d.intxVirqfd('unmask'));
      t.false(d.intxHw.masked, 'the write unmasked before the release');
      await settle();
      t.false(d.intxHw.masked);
    },
  },
  {
    id: 'S094',
    kernel: 'eventfd_release',
    title:
      "the release is the file's last close: another fd on it keeps the virqfd (native); any handle's close is the file's (shared)",
    async run(t, h) {
      const d = h.device();
      const u = h.efd();
      const other = h.share(u);
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      h.close(u);
      if (h.kit.name === 'native') {
        t.true(d.intxVirqfd('unmask'), 'the caller still holds the file through its second fd');
        t.is(
          errno(() => set(d, EFD | UNMASK, INTX, 0, 1, [h.efd()])),
          'EBUSY',
        );
        d.assertIntx();
        d.deassertIntx();
        h.write(other);
        await until(() => !d.intxHw.masked, 'the virqfd still unmasks through the other fd');
        h.close(other);
      }
      t.false(d.intxVirqfd('unmask'), 'released with the last fd');
      t.is(set(d, EFD | UNMASK, INTX, 0, 1, [h.efd()]), 0);
    },
  },
  {
    id: 'S095',
    kernel: 'eventfd_release',
    title:
      'a new eventfd that reuses the closed fd number is another file: the old virqfd is gone, the new one works',
    async run(t, h) {
      const d = h.device();
      const u = h.efd();
      bind(d, INTX, 0, [h.efd()]);
      set(d, EFD | UNMASK, INTX, 0, 1, [u]);
      const number = h.kit.name === 'native' ? (u as { fd: number }).fd : -1;
      h.close(u);
      // fill every lower hole so the next eventfd gets exactly the closed number (lowest free fd)
      let n = h.efd();
      for (let i = 0; h.kit.name === 'native' && (n as { fd: number }).fd < number && i < 4096; i++)
        n = h.efd();
      if (h.kit.name === 'native') t.is((n as { fd: number }).fd, number, 'the number was reused');
      t.false(d.intxVirqfd('unmask'));
      t.is(set(d, EFD | UNMASK, INTX, 0, 1, [n]), 0);
      d.assertIntx();
      d.deassertIntx();
      h.write(n);
      await until(() => !d.intxHw.masked, 'the new virqfd unmasks');
    },
  },
  {
    id: 'S096',
    kernel: 'vfio_virqfd_enable',
    title: 'EXTENSION per-vector MSI-X unmask virqfds are released the same way: closed fd, free slot',
    run(t, h) {
      const d = msiDev(h, { msix: { vectors: 8, maskable: true } });
      const [u1, u2] = [h.efd(), h.efd()];
      bind(d, MSIX, 0, [h.efd(), h.efd()]);
      t.is(set(d, EFD | UNMASK, MSIX, 0, 2, [u1, u1]), 0);
      t.is(
        errno(() => set(d, EFD | UNMASK, MSIX, 1, 1, [u2])),
        'EBUSY',
      );
      h.close(u1);
      t.is(set(d, EFD | UNMASK, MSIX, 0, 2, [u2, u2]), 0, 'both slots were freed by the release');
    },
  },
  {
    id: 'S097',
    kernel: 'eventfd_ctx_fdget',
    title:
      'triggers hold a ctx reference, not the file: closing the caller fd leaves INTx, ERR and REQ triggers bound',
    run(t, h) {
      const d = h.device({ pcie: true });
      const [a, e, r] = [h.efd(), h.efd(), h.efd()];
      bind(d, INTX, 0, [a]);
      bind(d, ERR, 0, [e]);
      bind(d, REQ, 0, [r]);
      for (const x of [a, e, r]) h.close(x);
      t.true(d.vectorTable.state(INTX, 0).triggered);
      t.is(d.assertIntx(), 'signalled', 'signalled into a ctx nobody can read any more');
      for (const i of [ERR, REQ]) {
        t.is(set(d, NONE | TRIG, i, 0, 1), 0, 'loopback finds the trigger still bound');
        t.true(d.vectorTable.state(i, 0).triggered);
      }
    },
  },
  // ---------------------------------------------------------------- kernel profiles
  {
    id: 'S098',
    kernel: 'vfio_pci_set_msi_trigger',
    title:
      'loopback past the enabled vectors skips the vectors without a trigger (6.1: start + count > num_ctx, -EINVAL, nothing signalled)',
    run(t, h) {
      const d = msiDev(h);
      const a = h.efd();
      const b = h.efd();
      bind(d, MSIX, 0, [a, b]);
      const loop = () => set(d, NONE | TRIG, MSIX, 1, 4);
      const boolLoop = () => set(d, BOOL | TRIG, MSIX, 0, 3, new Uint8Array([1, 1, 1]));
      if (h.expect({ '6.1': false, '6.12': true, mainline: true })) {
        t.is(loop(), 0);
        t.deepEqual([h.read(a), h.read(b)], [0n, 1n]);
        t.is(boolLoop(), 0);
        t.deepEqual([h.read(a), h.read(b)], [1n, 1n]);
      } else {
        t.is(errno(loop), 'EINVAL');
        t.is(errno(boolLoop), 'EINVAL');
        t.deepEqual([h.read(a), h.read(b)], [0n, 0n]);
      }
      t.is(set(d, NONE | TRIG, MSIX, 0, 2), 0, 'within the enabled vectors: the same everywhere');
      t.deepEqual([h.read(a), h.read(b)], [1n, 1n]);
    },
  },
  {
    id: 'S099',
    kernel: 'vfio_msi_set_block',
    title:
      'a block reaching past the enabled vectors: mainline meets a closed fd first (-EBADF, unwound); 6.1 refuses it up front (-EINVAL, untouched)',
    run(t, h) {
      const d = msiDev(h);
      const e = [h.efd(), h.efd(), h.efd(), h.efd()];
      bind(d, MSIX, 0, e);
      const block = () => bind(d, MSIX, 1, [h.efd(), -1, closedFd(), h.efd()]);
      const mainline = h.expect({ '6.1': false, '6.12': true, mainline: true });
      t.is(errno(block), mainline ? 'EBADF' : 'EINVAL');
      // mainline: vector 1 rebound, 2 cleared, 3 failed, then [1, 3] unwound to no trigger
      t.deepEqual(
        [0, 1, 2, 3].map((v) => d.vectorTable.state(MSIX, v).triggered),
        mainline ? [true, false, false, false] : [true, true, true, true],
      );
      t.is(d.allocatedVectors, 4);
    },
  },
];
