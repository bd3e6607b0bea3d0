/**
 * The control virtqueue (§5.1.6.5): commands as a three-part chain — { u8 class; u8 command; }, the
 * command's data, and a device-writable u8 ack — answered VIRTIO_NET_OK or VIRTIO_NET_ERR. Used from
 * the thread that set the device up; polled (its vector is VIRTIO_MSI_NO_VECTOR), with a bounded wait.
 */
import { sleepMs } from './common-cfg.js';
import { VirtioNetError } from './errors.js';
import {
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_OK,
} from './spec.js';
import type { Virtqueue } from './virtqueue.js';

/** Bytes of command scratch memory the control queue needs (header, data, ack; 64 is plenty). */
export const CTRL_SCRATCH = 64;
const HDR = 0;
const DATA = 8;
const ACK = 32;
const ACK_PENDING = 0xff;

/** The control queue of one device. */
export class CtrlQueue {
  constructor(
    private readonly vq: Virtqueue,
    /** This thread's view of the scratch bytes, and their IOVA. */
    private readonly scratch: Uint8Array,
    private readonly scratchIova: bigint,
  ) {}

  /**
   * §5.1.6.5.5: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET — how many queue pairs the device steers to.
   * Throws `ERR_VIRQ_VIRTIO_INVAL` outside 1..0x8000 (or the device's max, which the caller checks),
   * `ERR_VIRQ_VIRTIO_CTRL` if the device refuses or does not answer.
   */
  setQueuePairs(pairs: number, timeoutMs = 2000): void {
    if (
      !Number.isInteger(pairs) ||
      pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN ||
      pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX
    ) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_INVAL',
        `queue pairs ${pairs} outside 1..${VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX}`,
      );
    }
    const data = new Uint8Array([pairs & 0xff, pairs >> 8]); // le16 virtqueue_pairs
    this.command(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, data, timeoutMs);
  }

  /** Sends one command and waits for its ack. */
  command(cls: number, cmd: number, data: Uint8Array, timeoutMs: number): void {
    const s = this.scratch;
    s[HDR] = cls;
    s[HDR + 1] = cmd;
    s.set(data, DATA);
    s[ACK] = ACK_PENDING;
    const io = this.scratchIova;
    const ok = this.vq.addChain(
      [
        [io + BigInt(HDR), 2, false],
        [io + BigInt(DATA), data.length, false],
        [io + BigInt(ACK), 1, true],
      ],
      0,
    );
    if (!ok) throw new VirtioNetError('ERR_VIRQ_VIRTIO_CTRL', 'control queue full');
    this.vq.publish();
    const until = performance.now() + timeoutMs;
    while (this.vq.popUsed() < 0) {
      if (performance.now() > until) {
        throw new VirtioNetError(
          'ERR_VIRQ_VIRTIO_CTRL',
          `class ${cls} command ${cmd}: no answer in ${timeoutMs} ms`,
        );
      }
      sleepMs(1);
    }
    if (s[ACK] !== VIRTIO_NET_OK) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_CTRL',
        `class ${cls} command ${cmd}: device answered ${s[ACK]} (VIRTIO_NET_ERR)`,
      );
    }
  }
}
