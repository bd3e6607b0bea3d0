/**
 * Frame buffers of one queue pair: fixed 2 KiB slots in DMA memory and a free stack in shared memory.
 * RX takes a buffer to post it, the app forwards it to TX or gives it back, TX reclaim gives it back:
 * a forwarded frame is never copied.
 */
import { MIN_RX_BUFFER } from './spec.js';

/** Bytes per buffer: virtio_net_hdr + a 1514-byte frame fit (§5.1.6.3.1 asks for ≥ 1526). */
export const BUFFER_SIZE = 2048;
if (BUFFER_SIZE < MIN_RX_BUFFER) throw new Error('BUFFER_SIZE below the spec minimum');

/** Int32 words of a pool's shared state: the stack top and the stack. */
export const poolStateWords = (count: number): number => 1 + count;

/** Where a pool lives: structured-cloneable. */
export interface PoolDescriptor {
  count: number;
  /** Offset of buffer 0 in the DMA mapping, and its IOVA as a decimal string. */
  offset: number;
  iova: string;
  state: SharedArrayBuffer;
  stateWord: number;
}

/** A pool of {@link BUFFER_SIZE} buffers. */
export class BufferPool {
  readonly count: number;
  /** The buffers' bytes: buffer b starts at b × BUFFER_SIZE. */
  readonly bytes: Uint8Array;
  private readonly base: bigint;
  private readonly st: Int32Array;

  /** `region`: this thread's mapping of the DMA region the descriptor's offset is relative to. */
  constructor(d: PoolDescriptor, region: Uint8Array) {
    this.count = d.count;
    this.bytes = region.subarray(d.offset, d.offset + d.count * BUFFER_SIZE);
    this.base = BigInt(d.iova);
    this.st = new Int32Array(d.state, d.stateWord * 4, poolStateWords(d.count));
  }

  /** Every buffer free (once, when the device is set up). */
  static initState(d: PoolDescriptor): void {
    const st = new Int32Array(d.state, d.stateWord * 4, poolStateWords(d.count));
    for (let i = 0; i < d.count; i++) st[1 + i] = i;
    st[0] = d.count;
  }

  /** A free buffer, or -1. */
  take(): number {
    const top = this.st[0];
    if (top === 0) return -1;
    this.st[0] = top - 1;
    return this.st[top];
  }

  put(b: number): void {
    const top = this.st[0];
    this.st[1 + top] = b;
    this.st[0] = top + 1;
  }

  get free(): number {
    return this.st[0];
  }

  /** The IOVA of buffer `b`. */
  iova(b: number): bigint {
    return this.base + BigInt(b * BUFFER_SIZE);
  }
}
