/**
 * The kernel-profile table itself: every row cited, each profile resolved from it, and the
 * constructor's answer to a profile it does not know. What each row changes is pinned down by the
 * conformance scenarios, which run under every profile (S006, S069, S070, S071, S074, S085, S098,
 * S099 answer differently on 6.1), and proven against the real kernels in test/vm.
 */
import test from 'ava';
import {
  KERNEL_DIFFERENCES,
  KERNEL_PROFILES,
  type KernelProfileName,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SoftDevice,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_NORESIZE,
} from '../src/index.js';

test('every row names the kernel function, both behaviours and the mainline commit that made it', (t) => {
  t.deepEqual(
    KERNEL_DIFFERENCES.map((d) => d.id),
    ['dynamic-msix', 'no-num-ctx', 'ctx-trigger-fd-below-minus-one'],
  );
  for (const d of KERNEL_DIFFERENCES) {
    t.regex(d.commit, /^[0-9a-f]{12}$/, d.id);
    t.regex(d.subject, /^vfio\/pci: /, d.id);
    t.regex(d.since, /^v6\.\d+$/, d.id);
    t.true(d.before.length > 40 && d.after.length > 40, `${d.id} says what changed`);
    for (const b of Object.values(d.backports)) t.regex(b, /^[0-9a-f]{12}$/, `${d.id} backport`);
    t.deepEqual(Object.keys(d.has).sort(), [...KERNEL_PROFILES].sort(), `${d.id} covers every profile`);
  }
});

test('6.1 has none of the newer behaviours; 6.12 has every one, so it answers as mainline', (t) => {
  const rows = (k: KernelProfileName) => KERNEL_DIFFERENCES.filter((d) => d.has[k]).map((d) => d.id);
  t.deepEqual(rows('6.1'), []);
  t.deepEqual(rows('6.12'), rows('mainline'));
  t.deepEqual(
    rows('mainline'),
    KERNEL_DIFFERENCES.map((d) => d.id),
  );
  // a row that reached 6.12 only through a stable backport says which commit brought it
  const rcu = KERNEL_DIFFERENCES.find((d) => d.id === 'ctx-trigger-fd-below-minus-one');
  t.is(rcu?.since, 'v6.19');
  t.is(rcu?.backports['6.12'], '45d7cf5174e4');
});

test('SoftDevice defaults to mainline, names its profile, and rejects one it does not know', (t) => {
  t.is(new SoftDevice().kernel.name, 'mainline');
  for (const k of KERNEL_PROFILES) t.is(new SoftDevice({ kernel: k }).kernel.name, k);
  t.throws(() => new SoftDevice({ kernel: '5.10' as KernelProfileName }), {
    instanceOf: RangeError,
    message: /kernel must be one of '6\.1', '6\.12', 'mainline', got 5\.10/,
  });
});

test('getIrqInfo: MSI-X drops NORESIZE only where the kernel and the platform allow dynamic MSI-X', (t) => {
  for (const k of KERNEL_PROFILES) {
    t.is(
      new SoftDevice({ kernel: k, msix: { vectors: 4 } }).getIrqInfo(MSIX).flags,
      VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
      k,
    );
  }
  t.is(
    new SoftDevice({ kernel: '6.12', msix: { vectors: 4, dynamic: true } }).getIrqInfo(MSIX).flags,
    VFIO_IRQ_INFO_EVENTFD,
  );
  t.throws(() => new SoftDevice({ kernel: '6.1', msix: { vectors: 4, dynamic: true } }), {
    instanceOf: RangeError,
    message: /e4163438e015/,
  });
});
