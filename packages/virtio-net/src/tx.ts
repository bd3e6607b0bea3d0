/**
 * A transmit queue (§5.1.6.2 Packet Transmission): device-readable buffers, each a zeroed
 * virtio_net_hdr (no offloads: flags 0, GSO_NONE) followed by the frame. Completions are reclaimed
 * when the ring runs short and at each flush; TX never interrupts (its vector is
 * VIRTIO_MSI_NO_VECTOR and VIRTQ_AVAIL_F_NO_INTERRUPT stays set).
 */
import { BUFFER_SIZE, type BufferPool } from './pool.js';
import { VIRTIO_NET_HDR_LEN } from './spec.js';
import type { Virtqueue } from './virtqueue.js';

/** One TX queue of a pair. */
export class TxQueue {
  /** Frames not sent because the ring stayed full after a reclaim (their buffers went back to the pool). */
  full = 0;

  constructor(
    readonly vq: Virtqueue,
    readonly pool: BufferPool,
  ) {
    vq.disableInterrupts();
  }

  /** Gives completed buffers back to the pool. Returns how many. */
  reclaim(): number {
    let n = 0;
    for (let b = this.vq.popUsed(); b >= 0; b = this.vq.popUsed()) {
      this.pool.put(b);
      n++;
    }
    return n;
  }

  /**
   * Queues pool buffer `b` holding a `length`-byte frame after its header space; not visible to the
   * device until {@link flush}. False (and the buffer is the caller's again) when the ring is full.
   */
  send(b: number, length: number): boolean {
    if (this.vq.numFree === 0) this.reclaim();
    const at = b * BUFFER_SIZE;
    this.pool.bytes.fill(0, at, at + VIRTIO_NET_HDR_LEN);
    if (this.vq.add(this.pool.iova(b), VIRTIO_NET_HDR_LEN + length, false, b)) return true;
    this.full++;
    return false;
  }

  /** Publishes what was queued (one notification per batch, if the device wants one). */
  flush(): void {
    this.vq.publish();
    this.reclaim();
  }
}
