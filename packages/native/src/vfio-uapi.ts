/**
 * VFIO uapi numbers (include/uapi/linux/vfio.h), usable without the addon. The addon exports the same
 * table as its C++ compiler saw it ({@link vfioUapi}), and a test proves both equal to the machine's
 * `<linux/vfio.h>`.
 */
export const VFIO = {
  API_VERSION: 0,

  TYPE1_IOMMU: 1,
  SPAPR_TCE_IOMMU: 2,
  TYPE1v2_IOMMU: 3,
  DMA_CC_IOMMU: 4,
  EEH: 5,
  SPAPR_TCE_v2_IOMMU: 7,
  NOIOMMU_IOMMU: 8,
  UNMAP_ALL: 9,
  UPDATE_VADDR: 10,

  GROUP_FLAGS_VIABLE: 1 << 0,
  GROUP_FLAGS_CONTAINER_SET: 1 << 1,

  DEVICE_FLAGS_RESET: 1 << 0,
  DEVICE_FLAGS_PCI: 1 << 1,
  DEVICE_FLAGS_PLATFORM: 1 << 2,
  DEVICE_FLAGS_AMBA: 1 << 3,
  DEVICE_FLAGS_CCW: 1 << 4,
  DEVICE_FLAGS_AP: 1 << 5,
  DEVICE_FLAGS_FSL_MC: 1 << 6,
  DEVICE_FLAGS_CAPS: 1 << 7,

  REGION_INFO_FLAG_READ: 1 << 0,
  REGION_INFO_FLAG_WRITE: 1 << 1,
  REGION_INFO_FLAG_MMAP: 1 << 2,
  REGION_INFO_FLAG_CAPS: 1 << 3,

  IRQ_INFO_EVENTFD: 1 << 0,
  IRQ_INFO_MASKABLE: 1 << 1,
  IRQ_INFO_AUTOMASKED: 1 << 2,
  IRQ_INFO_NORESIZE: 1 << 3,

  IRQ_SET_DATA_NONE: 1 << 0,
  IRQ_SET_DATA_BOOL: 1 << 1,
  IRQ_SET_DATA_EVENTFD: 1 << 2,
  IRQ_SET_ACTION_MASK: 1 << 3,
  IRQ_SET_ACTION_UNMASK: 1 << 4,
  IRQ_SET_ACTION_TRIGGER: 1 << 5,
  IRQ_SET_DATA_TYPE_MASK: 0x7,
  IRQ_SET_ACTION_TYPE_MASK: 0x38,

  PCI_BAR0_REGION_INDEX: 0,
  PCI_BAR1_REGION_INDEX: 1,
  PCI_BAR2_REGION_INDEX: 2,
  PCI_BAR3_REGION_INDEX: 3,
  PCI_BAR4_REGION_INDEX: 4,
  PCI_BAR5_REGION_INDEX: 5,
  PCI_ROM_REGION_INDEX: 6,
  PCI_CONFIG_REGION_INDEX: 7,
  PCI_VGA_REGION_INDEX: 8,
  PCI_NUM_REGIONS: 9,

  PCI_INTX_IRQ_INDEX: 0,
  PCI_MSI_IRQ_INDEX: 1,
  PCI_MSIX_IRQ_INDEX: 2,
  PCI_ERR_IRQ_INDEX: 3,
  PCI_REQ_IRQ_INDEX: 4,
  PCI_NUM_IRQS: 5,

  // Device memory: region info capabilities, type1 IOMMU info and DMA map flags.
  REGION_INFO_CAP_SPARSE_MMAP: 1,
  REGION_INFO_CAP_TYPE: 2,
  REGION_INFO_CAP_MSIX_MAPPABLE: 3,
  IOMMU_INFO_PGSIZES: 1 << 0,
  IOMMU_INFO_CAPS: 1 << 1,
  IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: 1,
  IOMMU_TYPE1_INFO_CAP_MIGRATION: 2,
  IOMMU_TYPE1_INFO_DMA_AVAIL: 3,
  DMA_MAP_FLAG_READ: 1 << 0,
  DMA_MAP_FLAG_WRITE: 1 << 1,

  /** sizeof(struct vfio_irq_info) */
  IRQ_INFO_SIZE: 16,
  /** sizeof(struct vfio_irq_set) without data[] */
  IRQ_SET_HEADER_SIZE: 20,
} as const;

/** `_IO(';', 100 + n)` with the asm-generic encoding (x86, arm64, riscv): no size, no direction bits. */
const io = (nr: number): number => (0x3b << 8) | nr;

/**
 * VFIO ioctl request numbers (asm-generic `_IO` encoding; on powerpc, mips and sparc use the addon's
 * {@link vfioUapi} table, which the C compiler encoded for the machine).
 */
export const VFIO_IOCTL = {
  VFIO_GET_API_VERSION: io(100),
  VFIO_CHECK_EXTENSION: io(101),
  VFIO_SET_IOMMU: io(102),
  VFIO_GROUP_GET_STATUS: io(103),
  VFIO_GROUP_SET_CONTAINER: io(104),
  VFIO_GROUP_UNSET_CONTAINER: io(105),
  VFIO_GROUP_GET_DEVICE_FD: io(106),
  VFIO_DEVICE_GET_INFO: io(107),
  VFIO_DEVICE_GET_REGION_INFO: io(108),
  VFIO_DEVICE_GET_IRQ_INFO: io(109),
  VFIO_DEVICE_SET_IRQS: io(110),
  VFIO_DEVICE_RESET: io(111),
  VFIO_DEVICE_BIND_IOMMUFD: io(118),
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: io(119),
  IOMMU_IOAS_ALLOC: io(0x81),
  VFIO_IOMMU_GET_INFO: io(112),
  VFIO_IOMMU_MAP_DMA: io(113),
  VFIO_IOMMU_UNMAP_DMA: io(114),
  IOMMU_DESTROY: io(0x80),
  IOMMU_IOAS_IOVA_RANGES: io(0x84),
  IOMMU_IOAS_MAP: io(0x85),
  IOMMU_IOAS_UNMAP: io(0x86),
} as const;

/** iommufd uapi constants (include/uapi/linux/iommufd.h) that virq uses: `IOMMU_<name>`. */
export const IOMMUFD = {
  IOAS_MAP_FIXED_IOVA: 1 << 0,
  IOAS_MAP_WRITEABLE: 1 << 1,
  IOAS_MAP_READABLE: 1 << 2,
} as const;

/** One struct as the addon was compiled: total size, and [offset, size] of every field it uses. */
export interface UapiStruct {
  size: number;
  /** The kernel header that defines it. */
  header: string;
  /** A macro that exists only in headers new enough to have the struct; null if always present. */
  guard: string | null;
  fields: Record<string, [offset: number, size: number]>;
}

/** The addon's compiled-in uapi: C macro name → value, and struct layouts. */
export interface VfioUapiTable {
  ioctls: Record<string, number>;
  constants: Record<string, number>;
  enums: Record<string, number>;
  structs: Record<string, UapiStruct>;
}
