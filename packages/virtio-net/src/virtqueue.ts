/**
 * A split virtqueue (§2.7): the descriptor table, the available ring (driver → device) and the used
 * ring (device → driver) in DMA memory, and the driver's own bookkeeping in a SharedArrayBuffer, so
 * that a service worker that replaces a crashed one continues the ring where it was (nothing the
 * device published is lost or taken twice).
 *
 * Every buffer here is one descriptor (a frame and its virtio_net_hdr fit in one 2 KiB buffer, and
 * VIRTIO_F_VERSION_1 lets the driver lay buffers out as it likes, §2.7.4.3) except control commands,
 * which are chains.
 */
import { VirtioNetError } from './errors.js';
import type { Mmio } from './memory.js';
import { VIRTQ_ALIGN, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC, VIRTQ_USED_F_NO_NOTIFY } from './spec.js';

/** Byte layout of one split virtqueue of `size` entries, from the start of its area. */
export interface RingLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
  /** Bytes the three parts take, rounded up to 4 KiB. */
  bytes: number;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * §2.7: descriptor table 16 × size (align 16), available ring 6 + 2 × size (align 2; flags, idx,
 * ring[size], used_event), used ring 6 + 8 × size (align 4; flags, idx, ring[size], avail_event).
 */
export function ringLayout(size: number): RingLayout {
  const desc = 0;
  const avail = alignUp(desc + VIRTQ_DESC.SIZE * size, VIRTQ_ALIGN.avail);
  const used = alignUp(avail + 6 + 2 * size, VIRTQ_ALIGN.used);
  return { size, desc, avail, used, bytes: alignUp(used + 6 + 8 * size, 4096) };
}

/** Words of the driver-side state of one queue (in a SharedArrayBuffer shared by all threads). */
const S = { availIdx: 0, lastUsed: 1, numFree: 2, kicks: 3, header: 4 } as const;

/** Int32 words the shared state of a queue of `size` entries takes (header, free stack, tokens). */
export const queueStateWords = (size: number): number => S.header + 2 * size;

/** Everything that locates one queue: structured-cloneable, so a worker can attach to it. */
export interface QueueDescriptor {
  /** The virtqueue index (§5.1.2). */
  index: number;
  layout: RingLayout;
  /** Offset of the ring area in the DMA region's mapping, and its IOVA as a decimal string. */
  offset: number;
  iova: string;
  /** Byte offset of this queue's doorbell within the notify window (§4.1.4.4). */
  notifyOffset: number;
  /** The shared driver-side state and the first word of this queue's part of it. */
  state: SharedArrayBuffer;
  stateWord: number;
}

/** One split virtqueue, driver side. */
export class Virtqueue {
  readonly index: number;
  readonly size: number;
  private readonly mask: number;
  /** Descriptor table as 4 words per entry: addr lo, addr hi, len, flags | next << 16. */
  private readonly desc: Uint32Array;
  /** Available ring: [0] flags, [1] idx, [2 + i] ring. */
  private readonly avail: Uint16Array;
  /** Used ring halves: [0] flags, [1] idx; elements (id, len) from byte 4. */
  private readonly used16: Uint16Array;
  private readonly usedElems: Uint32Array;
  /** Shared state: header words, free descriptor stack, token per descriptor (-1 = free). */
  private readonly st: Int32Array;
  private readonly free: Int32Array;
  private readonly tokens: Int32Array;
  /** Length the device wrote for the element {@link popUsed} returned last. */
  lastLen = 0;

  constructor(
    d: QueueDescriptor,
    /** This thread's mapping of the DMA region the descriptor's offsets are relative to. */
    region: Uint8Array,
    private readonly notify: Mmio | undefined,
  ) {
    const { layout } = d;
    const bytes = region.buffer;
    const base = region.byteOffset + d.offset;
    this.index = d.index;
    this.size = layout.size;
    this.mask = layout.size - 1;
    this.desc = new Uint32Array(bytes, base + layout.desc, 4 * layout.size);
    this.avail = new Uint16Array(bytes, base + layout.avail, 3 + layout.size);
    this.used16 = new Uint16Array(bytes, base + layout.used, 2);
    this.usedElems = new Uint32Array(bytes, base + layout.used + 4, 2 * layout.size);
    this.st = new Int32Array(d.state, d.stateWord * 4, queueStateWords(layout.size));
    this.free = this.st.subarray(S.header, S.header + layout.size);
    this.tokens = this.st.subarray(S.header + layout.size, S.header + 2 * layout.size);
    this.notifyOffset = d.notifyOffset;
  }
  private readonly notifyOffset: number;

  /** Sets the shared state up for an empty ring (once, on the thread that initialises the device). */
  static initState(d: QueueDescriptor): void {
    const n = d.layout.size;
    const st = new Int32Array(d.state, d.stateWord * 4, queueStateWords(n));
    st.fill(0);
    for (let i = 0; i < n; i++) st[S.header + i] = n - 1 - i;
    st.fill(-1, S.header + n, S.header + 2 * n);
    st[S.numFree] = n;
  }

  /** Free descriptors. */
  get numFree(): number {
    return this.st[S.numFree];
  }

  /** Notifications sent to the device. */
  get kicks(): number {
    return this.st[S.kicks];
  }

  /** Buffers the device has returned and the driver has not taken yet. */
  usedPending(): number {
    return (Atomics.load(this.used16, 1) - this.st[S.lastUsed]) & 0xffff;
  }

  /**
   * Queues one buffer (not yet visible to the device: {@link publish}). `token` comes back from
   * {@link popUsed}. Returns false when no descriptor is free.
   */
  add(addr: bigint | number, len: number, deviceWrites: boolean, token: number): boolean {
    const st = this.st;
    const nf = st[S.numFree];
    if (nf === 0) return false;
    const id = this.free[nf - 1];
    st[S.numFree] = nf - 1;
    this.writeDesc(id, addr, len, deviceWrites ? VIRTQ_DESC.F_WRITE : 0, 0);
    this.tokens[id] = token;
    const ai = st[S.availIdx];
    this.avail[2 + (ai & this.mask)] = id;
    st[S.availIdx] = (ai + 1) & 0xffff;
    return true;
  }

  /** Queues a chain (§2.7.5: NEXT links the parts); `parts` each [addr, len, deviceWrites]. */
  addChain(parts: readonly (readonly [bigint, number, boolean])[], token: number): boolean {
    const st = this.st;
    const nf = st[S.numFree];
    if (nf < parts.length || parts.length === 0) return false;
    const ids = parts.map((_, i) => this.free[nf - 1 - i]);
    st[S.numFree] = nf - parts.length;
    parts.forEach(([addr, len, w], i) => {
      const last = i === parts.length - 1;
      this.writeDesc(
        ids[i],
        addr,
        len,
        (w ? VIRTQ_DESC.F_WRITE : 0) | (last ? 0 : VIRTQ_DESC.F_NEXT),
        last ? 0 : ids[i + 1],
      );
    });
    this.tokens[ids[0]] = token;
    const ai = st[S.availIdx];
    this.avail[2 + (ai & this.mask)] = ids[0];
    st[S.availIdx] = (ai + 1) & 0xffff;
    return true;
  }

  private writeDesc(id: number, addr: bigint | number, len: number, flags: number, next: number): void {
    const a = typeof addr === 'bigint' ? addr : BigInt(addr);
    const w = id * 4;
    this.desc[w] = Number(a & 0xffff_ffffn);
    this.desc[w + 1] = Number(a >> 32n);
    this.desc[w + 2] = len;
    this.desc[w + 3] = (flags & 0xffff) | (next << 16);
  }

  /**
   * Makes everything added visible to the device and notifies it unless it asked not to be
   * (§2.7.13.3: the idx store comes after the ring entries — Atomics.store is a full barrier on
   * the ring memory; §2.7.10: VIRTQ_USED_F_NO_NOTIFY). Returns true if it notified.
   */
  publish(): boolean {
    const ai = this.st[S.availIdx];
    if (Atomics.load(this.avail, 1) === ai) return false;
    Atomics.store(this.avail, 1, ai);
    if ((Atomics.load(this.used16, 0) & VIRTQ_USED_F_NO_NOTIFY) !== 0 || this.notify === undefined)
      return false;
    // §4.1.5.2 Available Buffer Notifications: write the queue's index to its doorbell.
    this.notify.write16(this.notifyOffset, this.index);
    this.st[S.kicks]++;
    return true;
  }

  /**
   * Looks at the next used buffer without taking it: its token (and {@link lastLen}), or -1 if none.
   * {@link commitUsed} takes it. Peek, process, commit: a worker that dies while processing leaves the
   * buffer in the ring for its replacement (at least once; see the README's crash section). Throws
   * `ERR_VIRQ_VIRTIO_RING` for an id that is not in flight (a broken ring or device; nothing freed twice).
   */
  peekUsed(): number {
    const lu = this.st[S.lastUsed];
    if (lu === Atomics.load(this.used16, 1)) return -1;
    const e = (lu & this.mask) * 2;
    const id = this.usedElems[e];
    const token = id < this.size ? this.tokens[id] : -1;
    if (token < 0) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_RING',
        `queue ${this.index}: used id ${id} is not a buffer in flight`,
      );
    }
    this.lastLen = this.usedElems[e + 1];
    return token;
  }

  /** Takes the buffer {@link peekUsed} returned: frees its chain and advances past it. */
  commitUsed(): void {
    const st = this.st;
    const lu = st[S.lastUsed];
    const id = this.usedElems[(lu & this.mask) * 2];
    let d = id;
    let nf = st[S.numFree];
    this.tokens[id] = -1;
    for (let guard = 0; guard < this.size; guard++) {
      this.free[nf++] = d;
      const fw = this.desc[d * 4 + 3];
      if ((fw & VIRTQ_DESC.F_NEXT) === 0) break;
      d = fw >>> 16;
    }
    st[S.numFree] = nf;
    st[S.lastUsed] = (lu + 1) & 0xffff;
  }

  /** {@link peekUsed} + {@link commitUsed}. */
  popUsed(): number {
    const token = this.peekUsed();
    if (token >= 0) this.commitUsed();
    return token;
  }

  /** §2.7.7: ask the device not to interrupt for this queue (a hint; an interrupt may still come). */
  disableInterrupts(): void {
    Atomics.store(this.avail, 0, Atomics.load(this.avail, 0) | VIRTQ_AVAIL_F_NO_INTERRUPT);
  }

  /**
   * Re-enables interrupts, then looks at the used ring again: true if it is empty, false if the
   * device used buffers while interrupts were off — those raised no interrupt, so the caller must
   * keep polling (the race Linux's virtqueue_enable_cb closes the same way). The flag store is a
   * full barrier before the re-read.
   */
  enableInterrupts(): boolean {
    Atomics.store(this.avail, 0, Atomics.load(this.avail, 0) & ~VIRTQ_AVAIL_F_NO_INTERRUPT);
    return this.usedPending() === 0;
  }

  /** The avail ring's flags (tests, stats). */
  get availFlags(): number {
    return Atomics.load(this.avail, 0);
  }
}
