import test from 'ava';
import fc from 'fast-check';
import { negotiate, REQUIRED_FEATURES } from '../src/device.js';
import { VirtioNetError } from '../src/errors.js';
import { readVirtioCaps } from '../src/pci-caps.js';
import { VIRTIO_F } from '../src/spec.js';

/** A config space with the capability list QEMU 7.2's virtio-net-pci (modern only) has in the VM. */
function qemuConfigSpace(omit: number[] = []): Uint8Array {
  const c = new Uint8Array(256);
  c[0x06] = 0x10; // status: capabilities list
  const caps: number[][] = [
    [0x11, 0, 0x01, 0x01, 0x01, 0, 0, 0, 0x01, 0x08, 0, 0], // MSI-X: 258 vectors (Message Control: size - 1 = 0x101), table in BAR1
  ];
  // §4.1.4 virtio_pci_cap: vndr, next, len, cfg_type, bar, id, pad[2], offset le32, length le32 (+ mult)
  const vcap = (type: number, offset: number, length: number, mult?: number) => {
    const b = [0x09, 0, mult === undefined ? 16 : 20, type, 4, 0, 0, 0];
    for (const v of [offset, length, ...(mult === undefined ? [] : [mult])])
      b.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
    return b;
  };
  for (const [type, off, len, mult] of [
    [1, 0x0000, 0x1000],
    [3, 0x1000, 0x1000],
    [4, 0x2000, 0x1000],
    [2, 0x3000, 0x1000, 4],
  ] as const) {
    if (!omit.includes(type)) caps.push(vcap(type, off, len, mult));
  }
  let at = 0x40;
  c[0x34] = at;
  caps.forEach((cap, i) => {
    c.set(cap, at);
    const next = i === caps.length - 1 ? 0 : at + 0x18;
    c[at + 1] = next;
    at = next;
  });
  return c;
}

const reader = (c: Uint8Array) => (o: number, n: number) => c.subarray(o, o + n);

test('readVirtioCaps: the four structures and the notify multiplier, as QEMU lays them out', (t) => {
  const caps = readVirtioCaps(reader(qemuConfigSpace()));
  t.deepEqual(caps, {
    common: { bar: 4, offset: 0, length: 0x1000 },
    isr: { bar: 4, offset: 0x1000, length: 0x1000 },
    device: { bar: 4, offset: 0x2000, length: 0x1000 },
    notify: { bar: 4, offset: 0x3000, length: 0x1000, multiplier: 4 },
    msixVectors: 258,
  });
});

for (const [type, name] of [
  [1, 'common'],
  [2, 'notification'],
  [3, 'ISR'],
  [4, 'device'],
] as const) {
  test(`readVirtioCaps: no ${name} capability is ERR_VIRQ_VIRTIO_NODEV`, (t) => {
    const e = t.throws(() => readVirtioCaps(reader(qemuConfigSpace([type]))), { instanceOf: VirtioNetError });
    t.is(e?.code, 'ERR_VIRQ_VIRTIO_NODEV');
    t.regex(e?.message ?? '', new RegExp(name));
  });
}

test('readVirtioCaps: a looped capability list ends (no hang), without a capability list is ERR_VIRQ_VIRTIO_NODEV', (t) => {
  const c = qemuConfigSpace();
  c[0x40 + 1] = 0x40; // MSI-X points at itself
  t.throws(() => readVirtioCaps(reader(c)), { instanceOf: VirtioNetError });
  const none = new Uint8Array(256);
  t.is(t.throws(() => readVirtioCaps(reader(none)))?.message.includes('no PCI capability list'), true);
});

test('property: random config bytes never hang or throw anything but ERR_VIRQ_VIRTIO_NODEV', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), (bytes) => {
        try {
          readVirtioCaps(reader(bytes));
          return true;
        } catch (e) {
          return e instanceof VirtioNetError && e.code === 'ERR_VIRQ_VIRTIO_NODEV';
        }
      }),
      { numRuns: 500 },
    ),
  );
});

const bit = (n: number) => 1n << BigInt(n);
const all = REQUIRED_FEATURES.reduce((a, [, b]) => a | bit(b), 0n);

test('negotiate: takes the required features (and STATUS when offered), nothing else', (t) => {
  const offered =
    all | bit(VIRTIO_F.NET_STATUS) | bit(VIRTIO_F.NET_MRG_RXBUF) | bit(VIRTIO_F.RING_EVENT_IDX) | bit(0);
  t.is(negotiate(offered), all | bit(VIRTIO_F.NET_STATUS));
  t.is(negotiate(all), all);
});

for (const [name, b] of REQUIRED_FEATURES) {
  test(`negotiate: a device without ${name} is refused with ERR_VIRQ_VIRTIO_FEATURE naming it`, (t) => {
    const e = t.throws(() => negotiate(all & ~bit(b)), { instanceOf: VirtioNetError });
    t.is(e?.code, 'ERR_VIRQ_VIRTIO_FEATURE');
    t.regex(e?.message ?? '', new RegExp(name));
  });
}
