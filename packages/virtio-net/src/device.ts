/**
 * Initialisation and feature negotiation (§3.1.1 Driver Requirements: Device Initialization, and
 * §5.1.5 for the network device) over the PCI transport (§4.1), and the device's reset on close.
 *
 * The order, and who does what:
 *  1. `VirtioNet.open()`: reset, ACKNOWLEDGE, DRIVER, features (refusing a device without the required
 *     ones), FEATURES_OK (checked), queues in DMA memory with one MSI-X vector per RX queue and one for
 *     config changes (each read back), RX buffers written (not yet announced).
 *  2. The caller binds those vectors (`setIrqs`, e.g. a Dispatcher's start()), before DRIVER_OK.
 *  3. `start()`: DRIVER_OK, announce the RX buffers, VQ_PAIRS_SET for the pairs asked for.
 *  4. `close()`: device reset (it stops DMA), then the memory is unmapped.
 */
import { CommonCfg } from './common-cfg.js';
import { CtrlQueue } from './ctrl.js';
import { VirtioNetError } from './errors.js';
import { type NicLayout, type PairLayout, placeLayout, planLayout } from './layout.js';
import type { DeviceMemory, Mmio, MmioHandle } from './memory.js';
import { type ConfigReader, readVirtioCaps, type VirtioPciCaps } from './pci-caps.js';
import { BufferPool } from './pool.js';
import { RxQueue } from './rx.js';
import {
  ctrlQueueIndex,
  NET_CFG,
  rxQueueIndex,
  txQueueIndex,
  VIRTIO_CONFIG_S,
  VIRTIO_F,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_S_LINK_UP,
} from './spec.js';
import { TxQueue } from './tx.js';
import { Virtqueue } from './virtqueue.js';

/** PCI config space access of the function (a vfio device fd's config region). */
export interface PciConfig {
  read: ConfigReader;
  write(offset: number, data: Uint8Array): void;
}

/** Options of {@link VirtioNet.open}. */
export interface VirtioNetOptions {
  /** Queue pairs to use (1..max_virtqueue_pairs). */
  pairs: number;
  /** RX buffers kept posted per pair (default: the ring size). */
  rxBuffers?: number;
}

/** Features the driver cannot work without (§6, §5.1.3). ACCESS_PLATFORM: the device sits behind the IOMMU. */
export const REQUIRED_FEATURES = [
  ['VIRTIO_F_VERSION_1', VIRTIO_F.VERSION_1],
  ['VIRTIO_F_ACCESS_PLATFORM', VIRTIO_F.ACCESS_PLATFORM],
  ['VIRTIO_NET_F_MAC', VIRTIO_F.NET_MAC],
  ['VIRTIO_NET_F_MQ', VIRTIO_F.NET_MQ],
  ['VIRTIO_NET_F_CTRL_VQ', VIRTIO_F.NET_CTRL_VQ],
] as const;
/** Accepted when offered. */
const OPTIONAL_FEATURES = [VIRTIO_F.NET_STATUS];

const bit = (n: number) => 1n << BigInt(n);

/** PCI command register (PCI 3.0 §6.2.2): memory space, bus master (MSI-X and DMA need it). */
const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4;

/** Which features of `offered` the driver takes; throws `ERR_VIRQ_VIRTIO_FEATURE` naming what is missing. */
export function negotiate(offered: bigint): bigint {
  const missing = REQUIRED_FEATURES.filter(([, b]) => (offered & bit(b)) === 0n).map(([n]) => n);
  if (missing.length > 0) {
    throw new VirtioNetError(
      'ERR_VIRQ_VIRTIO_FEATURE',
      `the device does not offer ${missing.join(', ')} (offered 0x${offered.toString(16)}); ` +
        'QEMU: virtio-net-pci,disable-legacy=on,iommu_platform=on,mq=on',
    );
  }
  let take = 0n;
  for (const [, b] of REQUIRED_FEATURES) take |= bit(b);
  for (const b of OPTIONAL_FEATURES) if ((offered & bit(b)) !== 0n) take |= bit(b);
  return take;
}

/** A virtio-net device set up for the driver. */
export class VirtioNet {
  readonly caps: VirtioPciCaps;
  readonly features: bigint;
  readonly mac: string;
  readonly maxPairs: number;
  readonly pairs: number;
  readonly layout: NicLayout;
  private readonly common: CommonCfg;
  private readonly deviceCfg: Mmio;
  private readonly rx: RxQueue[] = [];
  private readonly ctrl: CtrlQueue;
  private state: 'ready' | 'running' | 'closed' = 'ready';

  private constructor(
    private readonly memory: DeviceMemory,
    caps: VirtioPciCaps,
    common: CommonCfg,
    deviceCfg: Mmio,
    notifyWindow: { mmio: Mmio; handle: MmioHandle },
    features: bigint,
    opts: Required<VirtioNetOptions>,
  ) {
    this.caps = caps;
    this.common = common;
    this.deviceCfg = deviceCfg;
    this.features = features;
    const mac: string[] = [];
    for (let i = 0; i < 6; i++)
      mac.push(
        deviceCfg
          .read8(NET_CFG.mac + i)
          .toString(16)
          .padStart(2, '0'),
      );
    this.mac = mac.join(':');
    this.maxPairs = deviceCfg.read16(NET_CFG.max_virtqueue_pairs);
    if (opts.pairs < 1 || opts.pairs > this.maxPairs) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_INVAL',
        `pairs ${opts.pairs} outside 1..${this.maxPairs} (max_virtqueue_pairs)`,
      );
    }
    this.pairs = opts.pairs;
    if (common.numQueues < ctrlQueueIndex(this.maxPairs) + 1) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_QUEUE',
        `num_queues ${common.numQueues} < 2 × ${this.maxPairs} + 1 (§5.1.2)`,
      );
    }
    const queueSize = (index: number) => {
      const n = common.queueMaxSize(index);
      if (n === 0 || (n & (n - 1)) !== 0 || n > 32768) {
        throw new VirtioNetError(
          'ERR_VIRQ_VIRTIO_QUEUE',
          `queue ${index}: queue_size ${n} is not a power of 2 in 1..32768 (§2.7)`,
        );
      }
      return n;
    };
    this.layout = planLayout({
      pairs: opts.pairs,
      queueSize,
      maxPairs: this.maxPairs,
      rxBuffers: opts.rxBuffers,
    });
    const dma = memory.dmaAlloc(this.layout.bytes);
    const mult = caps.notify.multiplier;
    placeLayout(this.layout, dma.iova, (i) => common.queueNotifyOff(i) * mult);
    this.layout.dma = dma.handle;
    const notify = notifyWindow.mmio;
    this.layout.notify = notifyWindow.handle;
    for (const p of this.layout.pairs) this.setupPair(p, dma.bytes, notify);
    const c = this.layout.ctrl;
    Virtqueue.initState(c);
    const cvq = new Virtqueue(c, dma.bytes, notify);
    cvq.disableInterrupts();
    common.setupQueue({
      index: c.index,
      size: c.layout.size,
      desc: BigInt(c.iova) + BigInt(c.layout.desc),
      driver: BigInt(c.iova) + BigInt(c.layout.avail),
      device: BigInt(c.iova) + BigInt(c.layout.used),
      vector: VIRTIO_MSI_NO_VECTOR,
    });
    const s = this.layout.scratch;
    this.ctrl = new CtrlQueue(cvq, dma.bytes.subarray(s, s + 64), dma.iova + BigInt(s));
    common.setConfigVector(this.configVector);
  }

  /**
   * Steps 1–7 of §3.1.1 on a vfio-pci function: after this the vectors ({@link vectors}) can be bound.
   * On failure the device is marked FAILED and reset, and what was allocated is freed.
   */
  static open(config: PciConfig, memory: DeviceMemory, options: VirtioNetOptions): VirtioNet {
    const caps = readVirtioCaps(config.read);
    const cmd = config.read(PCI_COMMAND, 2);
    const on = cmd[0] | (cmd[1] << 8) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    config.write(PCI_COMMAND, new Uint8Array([on & 0xff, on >> 8]));
    const common = new CommonCfg(memory.mmio(caps.common.bar, caps.common.offset, caps.common.length).mmio);
    const deviceCfg = memory.mmio(caps.device.bar, caps.device.offset, caps.device.length).mmio;
    const notify = memory.mmio(caps.notify.bar, caps.notify.offset, caps.notify.length);
    try {
      common.reset();
      common.addStatus(VIRTIO_CONFIG_S.ACKNOWLEDGE);
      common.addStatus(VIRTIO_CONFIG_S.DRIVER);
      const features = negotiate(common.deviceFeatures());
      common.setDriverFeatures(features);
      common.addStatus(VIRTIO_CONFIG_S.FEATURES_OK);
      // §3.1.1 step 6: re-read; a device that does not accept the subset clears FEATURES_OK.
      if ((common.status & VIRTIO_CONFIG_S.FEATURES_OK) === 0) {
        throw new VirtioNetError(
          'ERR_VIRQ_VIRTIO_STATUS',
          'the device did not keep FEATURES_OK (§3.1.1 step 6)',
        );
      }
      return new VirtioNet(memory, caps, common, deviceCfg, notify, features, {
        pairs: options.pairs,
        rxBuffers: options.rxBuffers ?? 1 << 15,
      });
    } catch (err) {
      common.fail();
      try {
        common.reset();
      } catch {
        // the original error says more
      }
      memory.close();
      throw err;
    }
  }

  private setupPair(p: PairLayout, bytes: Uint8Array, notify: Mmio): void {
    Virtqueue.initState(p.rx);
    Virtqueue.initState(p.tx);
    BufferPool.initState(p.pool);
    const pool = new BufferPool(p.pool, bytes);
    this.rx.push(new RxQueue(new Virtqueue(p.rx, bytes, notify), pool, p.rxTarget));
    new TxQueue(new Virtqueue(p.tx, bytes, notify), pool); // sets TX's NO_INTERRUPT flag
    for (const q of [p.rx, p.tx]) {
      this.common.setupQueue({
        index: q.index,
        size: q.layout.size,
        desc: BigInt(q.iova) + BigInt(q.layout.desc),
        driver: BigInt(q.iova) + BigInt(q.layout.avail),
        device: BigInt(q.iova) + BigInt(q.layout.used),
        // One vector per RX queue (vector = pair); TX completions are reclaimed, never interrupt.
        vector: q.index === rxQueueIndex(p.pair) ? p.pair : VIRTIO_MSI_NO_VECTOR,
      });
    }
    if (p.tx.index !== txQueueIndex(p.pair)) throw new Error('unreachable: layout order');
  }

  /** The MSI-X vector of configuration changes: the one after the RX queues'. */
  get configVector(): number {
    return this.pairs;
  }

  /** The MSI-X vectors to bind: RX queue q → q, then the config vector. */
  get vectors(): number[] {
    return Array.from({ length: this.pairs + 1 }, (_, i) => i);
  }

  /** §5.1.4 status: link up (true when STATUS was not offered: the link is then assumed up). */
  get linkUp(): boolean {
    if ((this.features & bit(VIRTIO_F.NET_STATUS)) === 0n) return true;
    return (this.deviceCfg.read16(NET_CFG.status) & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** device_status as the device reports it. */
  get status(): number {
    return this.common.status;
  }

  /**
   * §3.1.1 step 8: DRIVER_OK (the vectors must be bound by now), then the RX buffers are announced and
   * the pairs turned on with VQ_PAIRS_SET (§5.1.6.5.5; before it only pair 0 receives).
   */
  start(): void {
    if (this.state !== 'ready')
      throw new VirtioNetError('ERR_VIRQ_VIRTIO_STATE', `start() when ${this.state}`);
    this.common.addStatus(VIRTIO_CONFIG_S.DRIVER_OK);
    const st = this.common.status;
    if ((st & VIRTIO_CONFIG_S.DEVICE_NEEDS_RESET) !== 0 || (st & VIRTIO_CONFIG_S.DRIVER_OK) === 0) {
      throw new VirtioNetError(
        'ERR_VIRQ_VIRTIO_STATUS',
        `device_status 0x${st.toString(16)} after DRIVER_OK`,
      );
    }
    this.state = 'running';
    for (const rx of this.rx) rx.fill();
    this.ctrl.setQueuePairs(this.pairs);
  }

  /** Resets the device (§2.4: it stops using the rings and DMA), unmaps the memory. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    try {
      this.common.reset();
    } finally {
      this.memory.close();
    }
  }
}
