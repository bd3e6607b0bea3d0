/**
 * A transmit queue (§5.1.6.2 Packet Transmission): device-readable buffers, each a zeroed
 * virtio_net_hdr (no offloads: flags 0, GSO_NONE) followed by the frame. Completions are reclaimed
 * when the ring runs short and at each flush; TX never interrupts (its vector is
 * VIRTIO_MSI_NO_VECTOR and VIRTQ_AVAIL_F_NO_INTERRUPT stays set).
 */
import { BUFFER_SIZE, type BufferPool } from './pool.js';
import { VIRTIO_NET_HDR_LEN } from './spec.js';
import type { Virtqueue } from './virtqueue.js';

/** Frames queued before TX is published mid-batch, so the device starts on them early. */
export const TX_PUBLISH_EVERY = 32;
/** Longest wait for the device to complete TX when the ring is full (ms). */
export const TX_FULL_WAIT_MS = 50;
const napTimer = new Int32Array(new SharedArrayBuffer(4));

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

  /** Frames queued since the last publish. */
  private queued = 0;

  /**
   * Queues pool buffer `b` holding a `length`-byte frame after its header space. Published every
   * {@link TX_PUBLISH_EVERY} frames and at {@link flush}. A full ring is published, then waited on for
   * completions (the device works on TX asynchronously after a notification) for at most
   * `TX_FULL_WAIT_MS`: back-pressure instead of a drop. False (the buffer is the caller's again) only
   * if the device completes nothing in that time.
   */
  send(b: number, length: number): boolean {
    const vq = this.vq;
    if (vq.numFree === 0 && this.reclaim() === 0) this.waitForRoom();
    const at = b * BUFFER_SIZE;
    this.pool.bytes.fill(0, at, at + VIRTIO_NET_HDR_LEN);
    if (!vq.add(this.pool.iova(b), VIRTIO_NET_HDR_LEN + length, false, b)) {
      this.full++;
      return false;
    }
    if (++this.queued >= TX_PUBLISH_EVERY) {
      vq.publish();
      this.queued = 0;
    }
    return true;
  }

  private waitForRoom(): void {
    this.vq.publish();
    this.queued = 0;
    const until = performance.now() + TX_FULL_WAIT_MS;
    while (this.reclaim() === 0 && performance.now() < until) Atomics.wait(napTimer, 0, 0, 0.05);
    this.waits++;
  }

  /** Times a full ring was waited on. */
  waits = 0;

  /** Publishes what was queued (one notification, if the device wants one) and reclaims. */
  flush(): void {
    this.vq.publish();
    this.queued = 0;
    this.reclaim();
  }
}
