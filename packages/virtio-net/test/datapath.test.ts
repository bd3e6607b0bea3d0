import test from 'ava';
import { type NicLayout, PAIR_STAT_WORDS, PAIR_STATS, placeLayout, planLayout } from '../src/layout.js';
import type { Mmio } from '../src/memory.js';
import { virtioNetHandlers } from '../src/napi.js';
import { BUFFER_SIZE, BufferPool } from '../src/pool.js';
import { VIRTIO_NET_HDR_LEN } from '../src/spec.js';
import { Virtqueue } from '../src/virtqueue.js';

/** A device model over the layout's memory: delivers frames into RX, completes TX. */
class FakeNic {
  readonly bytes: Uint8Array;
  readonly layout: NicLayout;
  private lastAvail = new Map<number, number>();
  private usedIdx = new Map<number, number>();
  readonly sent: Uint8Array[] = [];
  constructor(pairs: number, size = 16) {
    this.layout = planLayout({ pairs, queueSize: () => size, maxPairs: pairs, rxBuffers: size });
    this.bytes = new Uint8Array(this.layout.bytes);
    placeLayout(this.layout, 0x10_0000n, (i) => i * 4);
    this.layout.dma = { kind: 'test', iova: '1048576', size: this.layout.bytes };
    this.layout.notify = { kind: 'test', bar: 4, offset: 0x3000, length: 0x1000 };
    for (const p of this.layout.pairs) {
      Virtqueue.initState(p.rx);
      Virtqueue.initState(p.tx);
      BufferPool.initState(p.pool);
    }
  }
  private view(off: number) {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + off);
  }
  /** Pops one available descriptor of queue `q` (its layout), or undefined. */
  private pop(q: NicLayout['pairs'][0]['rx']) {
    const avail = this.view(q.offset + q.layout.avail);
    const last = this.lastAvail.get(q.index) ?? 0;
    if (avail.getUint16(2, true) === last) return undefined;
    const id = avail.getUint16(4 + 2 * (last % q.layout.size), true);
    this.lastAvail.set(q.index, (last + 1) & 0xffff);
    const desc = this.view(q.offset + q.layout.desc + id * 16);
    return { id, addr: desc.getBigUint64(0, true), len: desc.getUint32(8, true) };
  }
  private push(q: NicLayout['pairs'][0]['rx'], id: number, len: number) {
    const used = this.view(q.offset + q.layout.used);
    const u = this.usedIdx.get(q.index) ?? 0;
    used.setUint32(4 + 8 * (u % q.layout.size), id, true);
    used.setUint32(8 + 8 * (u % q.layout.size), len, true);
    this.usedIdx.set(q.index, (u + 1) & 0xffff);
    used.setUint16(2, (u + 1) & 0xffff, true);
  }
  private at(iova: bigint) {
    return Number(iova - 0x10_0000n);
  }
  /** Writes `frame` into the next posted RX buffer of `pair`; false if none is posted (overrun). */
  deliver(pair: number, frame: Uint8Array): boolean {
    const q = this.layout.pairs[pair].rx;
    const d = this.pop(q);
    if (!d) return false;
    const off = this.at(d.addr);
    this.bytes.fill(0, off, off + VIRTIO_NET_HDR_LEN);
    this.bytes.set(frame, off + VIRTIO_NET_HDR_LEN);
    this.push(q, d.id, VIRTIO_NET_HDR_LEN + frame.length);
    return true;
  }
  /** Completes every available TX buffer of `pair`, keeping a copy of each frame. */
  completeTx(pair: number): number {
    const q = this.layout.pairs[pair].tx;
    let n = 0;
    for (let d = this.pop(q); d; d = this.pop(q)) {
      const off = this.at(d.addr);
      this.sent.push(this.bytes.slice(off + VIRTIO_NET_HDR_LEN, off + d.len));
      this.push(q, d.id, 0);
      n++;
    }
    return n;
  }
  interruptsEnabled(pair: number): boolean {
    const q = this.layout.pairs[pair].rx;
    return (this.view(q.offset + q.layout.avail).getUint16(0, true) & 1) === 0;
  }
}

const noMmio: Mmio = {
  read8: () => 0,
  read16: () => 0,
  read32: () => 0,
  write8() {},
  write16() {},
  write32() {},
};

function frame(seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0);
  f[20] = seq & 0xff;
  f[21] = seq >> 8;
  return f;
}

function setup(pairs: number, app: (pair: number, f: Uint8Array) => boolean, size = 16) {
  const nic = new FakeNic(pairs, size);
  const h = virtioNetHandlers({ frame: app }, { dma: () => nic.bytes, mmio: () => noMmio });
  const ctx = { data: { nic: nic.layout } };
  // What VirtioNet.start() does: post the RX buffers.
  const { RxQueue } = require_rx;
  for (const p of nic.layout.pairs)
    new RxQueue(
      new Virtqueue(p.rx, nic.bytes, undefined),
      new BufferPool(p.pool, nic.bytes),
      p.rxTarget,
    ).fill();
  const stats = (p: number) => new Float64Array(nic.layout.stats, p * PAIR_STAT_WORDS * 8, PAIR_STAT_WORDS);
  return { nic, h, ctx, stats };
}

import * as require_rx from '../src/rx.js';

test('RX → app → TX: every frame forwarded once, in order, MACs as the app left them; buffers recycled', (t) => {
  const seen: number[] = [];
  const { nic, h, ctx, stats } = setup(1, (_p, f) => {
    seen.push(f[20] | (f[21] << 8));
    f[0] = 0xee;
    return true;
  });
  let seq = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 10; i++) t.true(nic.deliver(0, frame(seq++)), 'a buffer was posted');
    h.handler(0, ctx);
    nic.completeTx(0);
  }
  t.deepEqual(
    seen,
    Array.from({ length: 500 }, (_, i) => i),
  );
  t.is(nic.sent.length, 500);
  t.true(nic.sent.every((f, i) => f[0] === 0xee && (f[20] | (f[21] << 8)) === (i & 0xffff)));
  t.is(stats(0)[PAIR_STATS.rxFrames], 500);
  t.is(stats(0)[PAIR_STATS.txFrames], 500);
});

test('an app that throws: the frame is offered again (not lost), the error comes out of the handler, RX refilled', (t) => {
  let calls = 0;
  const got: number[] = [];
  const { nic, h, ctx, stats } = setup(1, (_p, f) => {
    if (++calls === 3) throw new Error('app fault');
    got.push(f[20]);
    return true;
  });
  for (let i = 0; i < 8; i++) nic.deliver(0, frame(i));
  t.throws(() => h.handler(0, ctx), { message: 'app fault' });
  t.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7], 'every frame once, the faulting one retried');
  t.is(stats(0)[PAIR_STATS.appErrors], 0);
  t.is(nic.completeTx(0), 8, 'TX was flushed despite the throw');
  for (let i = 0; i < 16; i++) t.true(nic.deliver(0, frame(100 + i)), `buffer ${i} re-posted`);
});

test('napi hooks: mask sets VIRTQ_AVAIL_F_NO_INTERRUPT, unmask clears it and reports frames that landed meanwhile', (t) => {
  const { nic, h, ctx } = setup(2, () => true);
  h.napi.mask(1, ctx);
  t.false(nic.interruptsEnabled(1));
  t.true(nic.interruptsEnabled(0), 'only that queue');
  nic.deliver(1, frame(1)); // lands while interrupts are off
  t.false(h.napi.unmask(1, ctx), 'work found: keep polling');
  t.false(nic.interruptsEnabled(1), 'and masked again');
  t.is(h.napi.poll(1, ctx, 64), 1);
  t.true(h.napi.unmask(1, ctx));
  t.true(nic.interruptsEnabled(1));
});

test('overrun: with every buffer in use the device cannot deliver; after the handler runs it can again', (t) => {
  const { nic, h, ctx } = setup(1, () => false, 8);
  let delivered = 0;
  while (nic.deliver(0, frame(delivered))) delivered++;
  t.is(delivered, 8, 'the ring holds 8 buffers');
  t.false(nic.deliver(0, frame(99)), 'the 9th frame has nowhere to go (the device counts it dropped)');
  h.handler(0, ctx);
  t.true(nic.deliver(0, frame(100)));
});

test('malformed: a used buffer shorter than an Ethernet header is counted and recycled, never given to the app', (t) => {
  const got: number[] = [];
  const { nic, h, ctx, stats } = setup(1, (_p, f) => {
    got.push(f.length);
    return false;
  });
  nic.deliver(0, new Uint8Array(10));
  nic.deliver(0, frame(1));
  h.handler(0, ctx);
  t.deepEqual(got, [60]);
  t.is(stats(0)[PAIR_STATS.rxMalformed], 1);
  t.is(BUFFER_SIZE, 2048);
});
