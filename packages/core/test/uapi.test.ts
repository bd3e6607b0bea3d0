/**
 * Every uapi number against the machine's <linux/vfio.h>: a C program prints them, compiled with gcc.
 * Also the struct encoders against the C layout (offsetof/sizeof).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as core from '../src/index.js';

const NAMES = [
  'VFIO_IRQ_INFO_EVENTFD',
  'VFIO_IRQ_INFO_MASKABLE',
  'VFIO_IRQ_INFO_AUTOMASKED',
  'VFIO_IRQ_INFO_NORESIZE',
  'VFIO_IRQ_SET_DATA_NONE',
  'VFIO_IRQ_SET_DATA_BOOL',
  'VFIO_IRQ_SET_DATA_EVENTFD',
  'VFIO_IRQ_SET_ACTION_MASK',
  'VFIO_IRQ_SET_ACTION_UNMASK',
  'VFIO_IRQ_SET_ACTION_TRIGGER',
  'VFIO_IRQ_SET_DATA_TYPE_MASK',
  'VFIO_IRQ_SET_ACTION_TYPE_MASK',
  'VFIO_PCI_INTX_IRQ_INDEX',
  'VFIO_PCI_MSI_IRQ_INDEX',
  'VFIO_PCI_MSIX_IRQ_INDEX',
  'VFIO_PCI_ERR_IRQ_INDEX',
  'VFIO_PCI_REQ_IRQ_INDEX',
  'VFIO_PCI_NUM_IRQS',
  'VFIO_TYPE',
  'VFIO_BASE',
  'VFIO_GET_API_VERSION',
  'VFIO_CHECK_EXTENSION',
  'VFIO_SET_IOMMU',
  'VFIO_GROUP_GET_STATUS',
  'VFIO_GROUP_SET_CONTAINER',
  'VFIO_GROUP_UNSET_CONTAINER',
  'VFIO_GROUP_GET_DEVICE_FD',
  'VFIO_DEVICE_GET_INFO',
  'VFIO_DEVICE_GET_REGION_INFO',
  'VFIO_DEVICE_GET_IRQ_INFO',
  'VFIO_DEVICE_SET_IRQS',
  'VFIO_DEVICE_RESET',
] as const;

const EXTRA = {
  VFIO_IRQ_INFO_SIZE: 'sizeof(struct vfio_irq_info)',
  VFIO_IRQ_SET_HEADER_SIZE: 'offsetof(struct vfio_irq_set, data)',
  PCI_COMMAND_INTX_DISABLE: 'PCI_COMMAND_INTX_DISABLE',
  PCI_STATUS_INTERRUPT: 'PCI_STATUS_INTERRUPT',
} as const;

test('every constant equals <linux/vfio.h> as compiled by gcc', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'virq-uapi-'));
  try {
    const lines = [
      ...NAMES.map((n) => `  printf("${n} %lu\\n", (unsigned long)(${n}));`),
      ...Object.entries(EXTRA).map(([n, expr]) => `  printf("${n} %lu\\n", (unsigned long)(${expr}));`),
      '  printf("info.flags %lu\\n", (unsigned long)offsetof(struct vfio_irq_info, flags));',
      '  printf("info.index %lu\\n", (unsigned long)offsetof(struct vfio_irq_info, index));',
      '  printf("info.count %lu\\n", (unsigned long)offsetof(struct vfio_irq_info, count));',
      '  printf("set.flags %lu\\n", (unsigned long)offsetof(struct vfio_irq_set, flags));',
      '  printf("set.index %lu\\n", (unsigned long)offsetof(struct vfio_irq_set, index));',
      '  printf("set.start %lu\\n", (unsigned long)offsetof(struct vfio_irq_set, start));',
      '  printf("set.count %lu\\n", (unsigned long)offsetof(struct vfio_irq_set, count));',
    ];
    const src = `#include <stdio.h>\n#include <stddef.h>\n#include <linux/vfio.h>\n#include <linux/pci_regs.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`;
    writeFileSync(join(dir, 'u.c'), src);
    execFileSync('gcc', ['-o', join(dir, 'u'), join(dir, 'u.c')]);
    const out = execFileSync(join(dir, 'u'), { encoding: 'utf8' });
    const c = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    );
    const mod = core as unknown as Record<string, number>;
    for (const n of [...NAMES, ...Object.keys(EXTRA)]) t.is(mod[n], c[n], n);
    t.deepEqual([c['info.flags'], c['info.index'], c['info.count']], [4, 8, 12]);
    t.deepEqual([c['set.flags'], c['set.index'], c['set.start'], c['set.count']], [4, 8, 12, 16]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vfio_irq_set and vfio_irq_info round-trip through their byte layout', (t) => {
  const fds = new Int32Array([5, -1]);
  const bytes = core.encodeIrqSet({
    flags: core.VFIO_IRQ_SET_DATA_EVENTFD | core.VFIO_IRQ_SET_ACTION_TRIGGER,
    index: core.VFIO_PCI_MSIX_IRQ_INDEX,
    start: 3,
    count: 2,
    data: new Uint8Array(fds.buffer),
  });
  t.is(bytes.byteLength, 28);
  const back = core.decodeIrqSet(bytes);
  t.like(back, { argsz: 28, flags: 0x24, index: 2, start: 3, count: 2 });
  t.deepEqual(Array.from(new Int32Array(back.data.slice().buffer)), [5, -1]);
  const info = core.decodeIrqInfo(core.encodeIrqInfo({ argsz: 16, flags: 7, index: 0, count: 1 }));
  t.deepEqual(info, { argsz: 16, flags: 7, index: 0, count: 1 });
  t.throws(() => core.decodeIrqSet(new Uint8Array(19)), { instanceOf: RangeError });
});
