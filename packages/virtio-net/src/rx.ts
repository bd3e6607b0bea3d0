/**
 * A receive queue (§5.1.6.3 Setting Up Receive Buffers, §5.1.6.4 Processing of Incoming Packets):
 * device-writable buffers from the pair's pool, each holding a virtio_net_hdr and one frame; refilled
 * after every batch.
 */
import { BUFFER_SIZE, type BufferPool } from './pool.js';
import { VIRTIO_NET_HDR_LEN } from './spec.js';
import type { Virtqueue } from './virtqueue.js';

/** Shortest frame accepted: an Ethernet header (a shorter one is malformed and dropped). */
export const MIN_FRAME = 14;

/**
 * Called per received frame: `buffer` is a pool buffer whose frame starts at
 * `buffer × BUFFER_SIZE + VIRTIO_NET_HDR_LEN` in `pool.bytes` and is `length` bytes long. Return
 * true if the buffer was handed on (to TX); false gives it back to the pool.
 */
export type FrameSink = (buffer: number, length: number) => boolean;

/** One RX queue of a pair. */
export class RxQueue {
  /** Frames dropped as malformed (shorter than an Ethernet header, or longer than a buffer). */
  malformed = 0;
  /** Refills that found the pool empty. */
  poolEmpty = 0;

  constructor(
    readonly vq: Virtqueue,
    readonly pool: BufferPool,
    /** Buffers kept posted (≤ the ring size). */
    readonly target: number,
  ) {}

  /** Posts buffers up to `target` and tells the device (§2.7.13). Returns how many it posted. */
  fill(): number {
    const { vq, pool } = this;
    let n = 0;
    while (vq.size - vq.numFree < this.target) {
      const b = pool.take();
      if (b < 0) {
        this.poolEmpty++;
        break;
      }
      vq.add(pool.iova(b), BUFFER_SIZE, true, b);
      n++;
    }
    if (n > 0) vq.publish();
    return n;
  }

  /**
   * Takes up to `budget` frames from the used ring, in the order the device returned them, and refills.
   * Returns the number taken (malformed ones included: they used a buffer too).
   */
  receive(budget: number, sink: FrameSink): number {
    const { vq, pool } = this;
    let n = 0;
    try {
      while (n < budget) {
        const b = vq.peekUsed();
        if (b < 0) break;
        const len = vq.lastLen - VIRTIO_NET_HDR_LEN;
        let kept = false;
        if (len < MIN_FRAME || vq.lastLen > BUFFER_SIZE) this.malformed++;
        else kept = sink(b, len);
        vq.commitUsed();
        if (!kept) pool.put(b);
        n++;
      }
    } finally {
      // Even when the sink threw: a ring left without buffers would never interrupt again.
      this.fill();
    }
    return n;
  }
}
