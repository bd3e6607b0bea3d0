/**
 * The common configuration structure (§4.1.4.3): features, device status, and per-queue setup through
 * `queue_select`. One object per device, used by the thread that initialises it.
 */
import { VirtioNetError } from './errors.js';
import type { Mmio } from './memory.js';
import { COMMON_CFG as C, VIRTIO_CONFIG_S, VIRTIO_MSI_NO_VECTOR } from './spec.js';

/** What a queue is set up with (§4.1.4.3: queue_size, the three ring addresses, its MSI-X vector). */
export interface QueueSetup {
  index: number;
  size: number;
  desc: bigint;
  driver: bigint;
  device: bigint;
  /** An MSI-X table entry, or VIRTIO_MSI_NO_VECTOR for a queue that never interrupts. */
  vector: number;
}

/** The common configuration of one device. */
export class CommonCfg {
  constructor(private readonly m: Mmio) {}

  /** The 64 feature bits the device offers (§2.2; two 32-bit windows selected by device_feature_select). */
  deviceFeatures(): bigint {
    this.m.write32(C.device_feature_select, 0);
    const lo = this.m.read32(C.device_feature);
    this.m.write32(C.device_feature_select, 1);
    const hi = this.m.read32(C.device_feature);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Writes the driver's accepted features (§3.1.1 step 5). */
  setDriverFeatures(features: bigint): void {
    this.m.write32(C.driver_feature_select, 0);
    this.m.write32(C.driver_feature, Number(features & 0xffff_ffffn));
    this.m.write32(C.driver_feature_select, 1);
    this.m.write32(C.driver_feature, Number((features >> 32n) & 0xffff_ffffn));
  }

  get status(): number {
    return this.m.read8(C.device_status);
  }

  /** ORs `bit` into device_status (§3.1.1: each step sets one more bit, never clears one). */
  addStatus(bit: number): void {
    this.m.write8(C.device_status, this.status | bit);
  }

  /**
   * Device reset (§2.4): write 0, then wait until device_status reads 0 (§4.1.4.3.2: the driver MUST
   * wait for that before re-initialising). Throws `ERR_VIRQ_VIRTIO_STATUS` if it never does.
   */
  reset(timeoutMs = 1000): void {
    this.m.write8(C.device_status, 0);
    const until = performance.now() + timeoutMs;
    while (this.status !== 0) {
      if (performance.now() > until) {
        throw new VirtioNetError(
          'ERR_VIRQ_VIRTIO_STATUS',
          `device_status still ${this.status} ${timeoutMs} ms after reset`,
        );
      }
      sleepMs(1);
    }
  }

  /** Marks the device FAILED (§2.1: the driver gave up on it). */
  fail(): void {
    this.m.write8(C.device_status, this.status | VIRTIO_CONFIG_S.FAILED);
  }

  get numQueues(): number {
    return this.m.read16(C.num_queues);
  }

  get configGeneration(): number {
    return this.m.read8(C.config_generation);
  }

  /** The size the device offers for queue `index` (0: the queue does not exist). */
  queueMaxSize(index: number): number {
    this.m.write16(C.queue_select, index);
    return this.m.read16(C.queue_size);
  }

  /** queue_notify_off of queue `index` (§4.1.4.4: its doorbell is at notify.offset + off × multiplier). */
  queueNotifyOff(index: number): number {
    this.m.write16(C.queue_select, index);
    return this.m.read16(C.queue_notify_off);
  }

  /**
   * Sets a queue up and enables it (§4.1.5.1.3 Virtqueue Configuration). The MSI-X vector is read back:
   * a device that cannot map it answers VIRTIO_MSI_NO_VECTOR (§4.1.5.1.2), `ERR_VIRQ_VIRTIO_VECTOR` here.
   */
  setupQueue(q: QueueSetup): void {
    const m = this.m;
    m.write16(C.queue_select, q.index);
    m.write16(C.queue_size, q.size);
    write64(m, C.queue_desc, q.desc);
    write64(m, C.queue_driver, q.driver);
    write64(m, C.queue_device, q.device);
    m.write16(C.queue_msix_vector, q.vector);
    const back = m.read16(C.queue_msix_vector);
    if (back !== q.vector) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_VECTOR',
        `queue ${q.index}: MSI-X vector ${q.vector} read back as ${back === VIRTIO_MSI_NO_VECTOR ? 'VIRTIO_MSI_NO_VECTOR' : back}`,
      );
    }
    m.write16(C.queue_enable, 1);
  }

  /** Sets the configuration-change vector and reads it back (same rule as a queue's). */
  setConfigVector(vector: number): void {
    this.m.write16(C.config_msix_vector, vector);
    const back = this.m.read16(C.config_msix_vector);
    if (back !== vector) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_VECTOR',
        `config MSI-X vector ${vector} read back as ${back === VIRTIO_MSI_NO_VECTOR ? 'VIRTIO_MSI_NO_VECTOR' : back}`,
      );
    }
  }
}

/** §4.1.3.1: a 64-bit field is written as two 32-bit halves, low first. */
function write64(m: Mmio, offset: number, value: bigint): void {
  m.write32(offset, Number(value & 0xffff_ffffn));
  m.write32(offset + 4, Number((value >> 32n) & 0xffff_ffffn));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A blocking sleep without a spin (only on the control path: reset, control-queue commands). */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
