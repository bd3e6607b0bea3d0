import test from 'ava';
import fc from 'fast-check';
import { VirtioNetError } from '../src/errors.js';
import type { Mmio } from '../src/memory.js';
import { type QueueDescriptor, queueStateWords, ringLayout, Virtqueue } from '../src/virtqueue.js';

/** The device side of a split ring over the same memory, as QEMU's virtqueue_pop / virtqueue_push do. */
class DeviceSide {
  private lastAvail = 0;
  private usedIdx = 0;
  readonly held = new Set<number>();
  readonly desc: DataView;
  readonly avail: DataView;
  readonly used: DataView;
  constructor(
    region: Uint8Array,
    readonly d: QueueDescriptor,
  ) {
    const b = region.buffer;
    this.desc = new DataView(b, region.byteOffset + d.offset + d.layout.desc);
    this.avail = new DataView(b, region.byteOffset + d.offset + d.layout.avail);
    this.used = new DataView(b, region.byteOffset + d.offset + d.layout.used);
  }
  /** Takes the next available chain head; returns its id and total length, or undefined. */
  pop(): { id: number; len: number; addr: bigint; flags: number } | undefined {
    const idx = this.avail.getUint16(2, true);
    if (idx === this.lastAvail) return undefined;
    const id = this.avail.getUint16(4 + 2 * (this.lastAvail % this.d.layout.size), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.held.has(id)) throw new Error(`descriptor ${id} made available twice`);
    this.held.add(id);
    return {
      id,
      addr: this.desc.getBigUint64(id * 16, true),
      len: this.desc.getUint32(id * 16 + 8, true),
      flags: this.desc.getUint16(id * 16 + 12, true),
    };
  }
  push(id: number, len: number): void {
    if (!this.held.delete(id)) throw new Error(`descriptor ${id} used but not held`);
    const e = 4 + 8 * (this.usedIdx % this.d.layout.size);
    this.used.setUint32(e, id, true);
    this.used.setUint32(e + 4, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.used.setUint16(2, this.usedIdx, true);
  }
  get availFlags(): number {
    return this.avail.getUint16(0, true);
  }
  setUsedFlags(f: number): void {
    this.used.setUint16(0, f, true);
  }
}

function makeQueue(size: number, kicks: number[] = []) {
  const layout = ringLayout(size);
  const region = new Uint8Array(layout.bytes + 4096).subarray(4096); // a non-zero byteOffset, as mmaps give
  const d: QueueDescriptor = {
    index: 3,
    layout,
    offset: 0,
    iova: '65536',
    notifyOffset: 12,
    state: new SharedArrayBuffer(queueStateWords(size) * 4),
    stateWord: 0,
  };
  Virtqueue.initState(d);
  const notify: Mmio = {
    read8: () => 0,
    read16: () => 0,
    read32: () => 0,
    write8: () => {},
    write16: (o, v) => {
      kicks.push(o, v);
    },
    write32: () => {},
  };
  return { vq: new Virtqueue(d, region, notify), dev: new DeviceSide(region, d), d, region };
}

test('ringLayout: §2.7 sizes and alignments for 256 entries', (t) => {
  const l = ringLayout(256);
  t.is(l.desc, 0);
  t.is(l.avail, 16 * 256);
  t.is(l.used % 4, 0);
  t.true(l.used >= l.avail + 6 + 2 * 256);
  t.true(l.bytes >= l.used + 6 + 8 * 256);
  t.is(l.bytes % 4096, 0);
});

test('add + publish: the device sees the descriptor, the kick writes the queue index to its doorbell', (t) => {
  const kicks: number[] = [];
  const { vq, dev } = makeQueue(8, kicks);
  t.true(vq.add(0x1234_5678_9an, 2048, true, 7));
  t.deepEqual(kicks, [], 'nothing before publish');
  t.true(vq.publish());
  t.deepEqual(kicks, [12, 3]);
  const got = dev.pop();
  t.deepEqual(got, { id: got?.id ?? -1, addr: 0x1234_5678_9an, len: 2048, flags: 2 });
  dev.push(got!.id, 60);
  t.is(vq.popUsed(), 7);
  t.is(vq.lastLen, 60);
  t.is(vq.popUsed(), -1);
  t.is(vq.numFree, 8);
});

test('publish skips the kick while the device sets VIRTQ_USED_F_NO_NOTIFY (§2.7.10)', (t) => {
  const kicks: number[] = [];
  const { vq, dev } = makeQueue(8, kicks);
  dev.setUsedFlags(1);
  vq.add(1n, 1, false, 1);
  t.false(vq.publish());
  t.deepEqual(kicks, []);
  t.is(vq.kicks, 0);
});

test('enableInterrupts re-checks the used ring: a buffer used while off is reported (virtqueue_enable_cb)', (t) => {
  const { vq, dev } = makeQueue(8);
  vq.add(1n, 100, true, 1);
  vq.add(2n, 100, true, 2);
  vq.publish();
  vq.disableInterrupts();
  t.is(dev.availFlags & 1, 1, 'VIRTQ_AVAIL_F_NO_INTERRUPT set');
  const a = dev.pop()!;
  dev.push(a.id, 10); // lands while the flag is set: no interrupt for it
  t.false(vq.enableInterrupts(), 'work found after re-enabling');
  t.is(dev.availFlags & 1, 0);
  t.is(vq.popUsed(), 1);
  t.true(vq.enableInterrupts(), 'quiet once taken');
});

test('a used id that is not in flight is ERR_VIRQ_VIRTIO_RING and frees nothing', (t) => {
  const { vq, dev } = makeQueue(4);
  vq.add(1n, 1, true, 1);
  vq.publish();
  const a = dev.pop()!;
  dev.push(a.id, 1);
  // Corrupt the used element: an id never made available.
  dev.used.setUint32(4, 3, true);
  const e = t.throws(() => vq.popUsed(), { instanceOf: VirtioNetError });
  t.is(e?.code, 'ERR_VIRQ_VIRTIO_RING');
  t.is(vq.numFree, 3);
});

test('chains: three descriptors linked with NEXT, freed together', (t) => {
  const { vq, dev } = makeQueue(8);
  t.true(
    vq.addChain(
      [
        [100n, 2, false],
        [200n, 2, false],
        [300n, 1, true],
      ],
      9,
    ),
  );
  vq.publish();
  t.is(vq.numFree, 5);
  const head = dev.pop()!;
  t.is(head.flags & 1, 1, 'head has NEXT');
  const next = dev.desc.getUint16(head.id * 16 + 14, true);
  t.is(dev.desc.getBigUint64(next * 16, true), 200n);
  dev.push(head.id, 1);
  t.is(vq.popUsed(), 9);
  t.is(vq.numFree, 8);
});

test('property: any interleaving of add / publish / device use / pop returns every token once, in use order', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8, 16),
        fc.array(fc.constantFrom('add', 'publish', 'use', 'pop', 'reattach'), { maxLength: 300 }),
        fc.integer({ min: 0, max: 1000 }),
        (size, ops, seed) => {
          const q = makeQueue(size);
          const { dev, d, region } = q;
          let vq = q.vq;
          let next = 0;
          const inFlight = new Set<number>();
          const usedOrder: number[] = [];
          const popped: number[] = [];
          let r = seed;
          for (const op of ops) {
            if (op === 'add') {
              const tok = next;
              const ok = vq.add(BigInt(tok * 4096), 2048, true, tok);
              if (ok) {
                inFlight.add(tok);
                next++;
              } else if (vq.numFree !== 0) return false;
            } else if (op === 'publish') vq.publish();
            else if (op === 'use') {
              const got = dev.pop();
              if (got) {
                r = (r * 1103515245 + 12345) % 2 ** 31;
                dev.push(got.id, r % 2048);
                usedOrder.push(Number(got.addr / 4096n));
              }
            } else if (op === 'pop') {
              const tok = vq.popUsed();
              if (tok >= 0) {
                if (!inFlight.delete(tok)) return false;
                popped.push(tok);
              }
            } else {
              // A replacement worker: new objects over the same shared state and memory.
              vq = new Virtqueue(d, region, undefined);
            }
            if (vq.numFree + inFlight.size !== size) return false;
          }
          return popped.every((tok, i) => tok === usedOrder[i]);
        },
      ),
      { numRuns: 300 },
    ),
  );
});
