// Proves the addon's VFIO uapi equal to the machine's <linux/vfio.h>: a C probe, generated from the
// addon's own table, is compiled with gcc at test time and prints what the kernel header says for every
// ioctl number, constant, struct size and field offset the addon uses.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { vfioUapi } from '../src/index.js';

interface ProbeOut {
  macros: Record<string, number | null>;
  enums: Record<string, number>;
  structs: Record<string, { size: number; fields: Record<string, [number, number]> } | null>;
}

/** The addon's table → C source that prints the header's answers as JSON. */
function probeSource(): string {
  const uapi = vfioUapi();
  const lines = [
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <linux/vfio.h>',
    '#if __has_include(<linux/iommufd.h>)',
    '#include <linux/iommufd.h>',
    '#endif',
    'int main(void) {',
    '  printf("{\\"macros\\":{");',
  ];
  const macros = [...Object.keys(uapi.ioctls), ...Object.keys(uapi.constants)];
  macros.forEach((name, i) => {
    const sep = i === 0 ? '' : ',';
    lines.push(
      `#ifdef ${name}`,
      `  printf("${sep}\\"${name}\\":%lu", (unsigned long)(${name}));`,
      '#else',
      `  printf("${sep}\\"${name}\\":null");`,
      '#endif',
    );
  });
  lines.push('  printf("},\\"enums\\":{");');
  Object.keys(uapi.enums).forEach((name, i) => {
    lines.push(`  printf("${i === 0 ? '' : ','}\\"${name}\\":%lu", (unsigned long)(${name}));`);
  });
  lines.push('  printf("},\\"structs\\":{");');
  Object.entries(uapi.structs).forEach(([name, s], i) => {
    const sep = i === 0 ? '' : ',';
    const body = [`  printf("${sep}\\"${name}\\":{\\"size\\":%zu,\\"fields\\":{", sizeof(struct ${name}));`];
    Object.keys(s.fields).forEach((field, j) => {
      const fsep = j === 0 ? '' : ',';
      const size =
        name === 'vfio_irq_set' && field === 'data' ? '0' : `sizeof(((struct ${name} *)0)->${field})`;
      body.push(
        `  printf("${fsep}\\"${field}\\":[%zu,%zu]", offsetof(struct ${name}, ${field}), (size_t)${size});`,
      );
    });
    body.push('  printf("}}");');
    if (s.guard === null) lines.push(...body);
    else lines.push(`#ifdef ${s.guard}`, ...body, '#else', `  printf("${sep}\\"${name}\\":null");`, '#endif');
  });
  lines.push('  printf("}}\\n");', '  return 0;', '}');
  return lines.join('\n');
}

function runProbe(): ProbeOut {
  const dir = mkdtempSync(join(tmpdir(), 'virq-uapi-probe-'));
  try {
    writeFileSync(join(dir, 'probe.c'), probeSource());
    execFileSync('gcc', ['-std=gnu11', '-Wall', '-Werror', '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    return JSON.parse(execFileSync(join(dir, 'probe'), { encoding: 'utf8' })) as ProbeOut;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// What every <linux/vfio.h> since the seed kernel has: these must be present, not only equal.
const CORE_IOCTLS = [
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
];
const CORE_STRUCTS = [
  'vfio_group_status',
  'vfio_device_info',
  'vfio_region_info',
  'vfio_irq_info',
  'vfio_irq_set',
];

test('ioctl numbers, constants, struct sizes and field offsets equal the machine <linux/vfio.h>', (t) => {
  const uapi = vfioUapi();
  const header = runProbe();
  const absent: string[] = [];

  for (const [name, value] of Object.entries({ ...uapi.ioctls, ...uapi.constants })) {
    const theirs = header.macros[name];
    if (theirs === null) {
      absent.push(name);
      continue;
    }
    t.is(value, theirs, name);
  }
  for (const name of CORE_IOCTLS) t.not(header.macros[name], null, `${name} is in the header`);
  t.deepEqual(uapi.enums, header.enums);

  for (const [name, ours] of Object.entries(uapi.structs)) {
    const theirs = header.structs[name];
    if (theirs === null) {
      absent.push(`struct ${name}`);
      continue;
    }
    t.deepEqual(
      ours.fields,
      theirs.fields,
      `struct ${name}: every field at the same offset with the same size`,
    );
    // argsz-versioned structs grow at the end (vfio_device_info gained `pad`, bind_iommufd a token
    // pointer): ours may be the older, shorter prefix, never longer than the header's.
    const lastEnd = Math.max(...Object.values(ours.fields).map(([off, size]) => off + size));
    t.is(ours.size, lastEnd, `struct ${name}: no padding of our own after the last field`);
    t.true(theirs.size >= ours.size, `struct ${name}: the header's size ${theirs.size} >= ours ${ours.size}`);
    if (name !== 'vfio_device_info' && !name.includes('iommufd') && name !== 'iommu_ioas_alloc') {
      t.is(ours.size, theirs.size, `struct ${name} has the same size`);
    }
  }
  for (const name of CORE_STRUCTS) t.not(header.structs[name], null, `struct ${name} is in the header`);
  t.log(
    absent.length === 0 ? 'every entry was compared' : `not in this machine's headers: ${absent.join(', ')}`,
  );
});
