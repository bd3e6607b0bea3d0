/**
 * The numbers of the virtio 1.x specification this driver uses, with the spec's own names. Sections
 * are those of "Virtual I/O Device (VIRTIO) Version 1.2" (virtio-v1.2-cs01); all multi-byte fields
 * are little-endian (§1.4), as is every host this runs on (x86-64; typed arrays use host order).
 */

/** §2.1 Device Status Field. */
export const VIRTIO_CONFIG_S = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Feature bit numbers: §6 Reserved Feature Bits (transport-independent) and §5.1.3 (network device). */
export const VIRTIO_F = {
  /** §5.1.3: the device has a given MAC address in its config space. */
  NET_MAC: 5,
  /** §5.1.3: device uses merged RX buffers (not negotiated: one 2 KiB buffer holds a frame). */
  NET_MRG_RXBUF: 15,
  /** §5.1.3: config `status` is valid. */
  NET_STATUS: 16,
  /** §5.1.3: control channel available. */
  NET_CTRL_VQ: 17,
  /** §5.1.3: multiqueue with automatic receive steering. */
  NET_MQ: 22,
  /** §6: used_event / avail_event (not negotiated: the flag form of suppression is used, §2.7.7). */
  RING_EVENT_IDX: 29,
  /** §6: complies with this specification (a modern device). */
  VERSION_1: 32,
  /** §6: the device is behind an IOMMU: addresses in descriptors are IOVAs. */
  ACCESS_PLATFORM: 33,
} as const;

/** §4.1.4 Virtio Structure PCI Capabilities: `cfg_type` values. */
export const VIRTIO_PCI_CAP = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
} as const;

/** PCI: the vendor-specific capability id virtio uses (§4.1.4: cap_vndr = 0x09, PCI_CAP_ID_VNDR). */
export const PCI_CAP_ID_VNDR = 0x09;
/** PCI: the MSI-X capability id (PCI Local Bus 3.0 §6.8.2). */
export const PCI_CAP_ID_MSIX = 0x11;

/** §4.1.4: struct virtio_pci_cap field offsets within the capability. */
export const VIRTIO_PCI_CAP_OFF = {
  cfg_type: 3,
  bar: 4,
  offset: 8,
  length: 12,
  notify_off_multiplier: 16,
} as const;

/** §4.1.4.3 Common configuration structure layout (struct virtio_pci_common_cfg): byte offsets. */
export const COMMON_CFG = {
  device_feature_select: 0, // le32
  device_feature: 4, // le32, read-only
  driver_feature_select: 8, // le32
  driver_feature: 12, // le32
  config_msix_vector: 16, // le16 (`msix_config`)
  num_queues: 18, // le16, read-only
  device_status: 20, // u8
  config_generation: 21, // u8, read-only
  queue_select: 22, // le16
  queue_size: 24, // le16
  queue_msix_vector: 26, // le16
  queue_enable: 28, // le16
  queue_notify_off: 30, // le16, read-only
  queue_desc: 32, // le64
  queue_driver: 40, // le64 (the available ring)
  queue_device: 48, // le64 (the used ring)
} as const;

/** §4.1.5.1.2 MSI-X Vector Configuration: "no vector", and what the device answers when it cannot map one. */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** §2.7.5 The Virtqueue Descriptor Table: struct virtq_desc is 16 bytes; flags. */
export const VIRTQ_DESC = { SIZE: 16, F_NEXT: 1, F_WRITE: 2, F_INDIRECT: 4 } as const;
/** §2.7.6 The Virtqueue Available Ring: flags; ring entries are le16 after flags + idx. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** §2.7.8 The Virtqueue Used Ring: flags; entries are struct virtq_used_elem { le32 id; le32 len; }. */
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** §2.7 Split Virtqueues, table "Virtqueue Part Alignment": descriptor table 16, avail 2, used 4. */
export const VIRTQ_ALIGN = { desc: 16, avail: 2, used: 4 } as const;

/** §5.1.4 Device configuration layout (struct virtio_net_config): byte offsets. */
export const NET_CFG = { mac: 0, status: 6, max_virtqueue_pairs: 8, mtu: 10 } as const;
/** §5.1.4: `status` bits. */
export const VIRTIO_NET_S_LINK_UP = 1;

/**
 * §5.1.6 Device Operation: struct virtio_net_hdr. With VIRTIO_F_VERSION_1 it always has `num_buffers`,
 * so it is 12 bytes (§5.1.6.1), in front of every frame in both directions.
 */
export const VIRTIO_NET_HDR_LEN = 12;
/** §5.1.6.1: gso_type NONE, flags 0 (no checksum offload negotiated). */
export const VIRTIO_NET_HDR_GSO_NONE = 0;

/** §5.1.6.3.1: without MRG_RXBUF or GUEST_TSO/UFO a receive buffer holds at least 1526 bytes. */
export const MIN_RX_BUFFER = 1526;

/** §5.1.6.5 Control Virtqueue: ack values and the classes/commands used. */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
/** §5.1.6.5.5 Automatic receive steering in multiqueue mode. */
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

/**
 * §5.1.2 Virtqueues: receiveq(k) is 2k, transmitq(k) is 2k+1 (k from 0), and with VIRTIO_NET_F_MQ the
 * controlq is 2 × max_virtqueue_pairs.
 */
export const rxQueueIndex = (pair: number): number => 2 * pair;
export const txQueueIndex = (pair: number): number => 2 * pair + 1;
export const ctrlQueueIndex = (maxPairs: number): number => 2 * maxPairs;

/** virtio-pci: PCI vendor id of virtio devices and the modern virtio-net device id (§4.1.2: 0x1040 + 1). */
export const VIRTIO_PCI_VENDOR = 0x1af4;
export const VIRTIO_PCI_DEVICE_NET_MODERN = 0x1041;
