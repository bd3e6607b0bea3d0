// The part of the VFIO type1 and iommufd user-space ABI that device memory needs (region capability
// chain, IOMMU info, DMA map/unmap, IOAS ranges/map/unmap), written from the kernel's documentation of
// include/uapi/linux/vfio.h and iommufd.h. Kept beside vfio_uapi.h for the same reason: the addon must
// build against any kernel headers (Debian 12's 6.1 headers have no iommufd IOAS map structs).
#pragma once

#include <linux/ioctl.h>

#include <cstdint>

#include "vfio_uapi.h"

namespace virq::uapi {

constexpr unsigned long kIommuGetInfo = _IO(kVfioType, kVfioBase + 12);
constexpr unsigned long kIommuMapDma = _IO(kVfioType, kVfioBase + 13);
constexpr unsigned long kIommuUnmapDma = _IO(kVfioType, kVfioBase + 14);

constexpr unsigned long kIommuDestroy = _IO(kIommufdType, kIommufdCmdBase + 0);
constexpr unsigned long kIommuIoasIovaRanges = _IO(kIommufdType, kIommufdCmdBase + 4);
constexpr unsigned long kIommuIoasMap = _IO(kIommufdType, kIommufdCmdBase + 5);
constexpr unsigned long kIommuIoasUnmap = _IO(kIommufdType, kIommufdCmdBase + 6);

/** struct vfio_info_cap_header: every capability starts with one; `next` is an offset from the
 *  start of the info struct, 0 ends the chain. */
struct InfoCapHeader {
  uint16_t id;
  uint16_t version;
  uint32_t next;
};

// Region info capability ids (VFIO_REGION_INFO_CAP_*).
constexpr uint16_t kRegionCapSparseMmap = 1;
constexpr uint16_t kRegionCapType = 2;
constexpr uint16_t kRegionCapMsixMappable = 3;

struct SparseMmapArea {
  uint64_t offset;
  uint64_t size;
};

struct RegionCapSparseMmap {
  InfoCapHeader header;
  uint32_t nr_areas;
  uint32_t reserved;
  // followed by nr_areas SparseMmapArea
};

struct RegionCapType {
  InfoCapHeader header;
  uint32_t type;
  uint32_t subtype;
};

// struct vfio_iommu_type1_info
constexpr uint32_t kIommuInfoPgsizes = 1u << 0;
constexpr uint32_t kIommuInfoCaps = 1u << 1;
struct IommuType1Info {
  uint32_t argsz;
  uint32_t flags;
  uint64_t iova_pgsizes;
  uint32_t cap_offset;
  uint32_t pad;
};

// IOMMU info capability ids (VFIO_IOMMU_TYPE1_INFO_CAP_*, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL).
constexpr uint16_t kIommuCapIovaRange = 1;
constexpr uint16_t kIommuCapMigration = 2;
constexpr uint16_t kIommuCapDmaAvail = 3;

struct IovaRange {
  uint64_t start;
  uint64_t end;  // inclusive
};

struct IommuCapIovaRange {
  InfoCapHeader header;
  uint32_t nr_iovas;
  uint32_t reserved;
  // followed by nr_iovas IovaRange
};

struct IommuCapDmaAvail {
  InfoCapHeader header;
  uint32_t avail;
};

// struct vfio_iommu_type1_dma_map / _unmap
constexpr uint32_t kDmaMapFlagRead = 1u << 0;
constexpr uint32_t kDmaMapFlagWrite = 1u << 1;
struct IommuDmaMap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t vaddr;
  uint64_t iova;
  uint64_t size;
};

struct IommuDmaUnmap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t iova;
  uint64_t size;
};

// iommufd
struct IommuDestroy {
  uint32_t size;
  uint32_t id;
};

struct IommuIoasIovaRanges {
  uint32_t size;
  uint32_t ioas_id;
  uint32_t num_iovas;
  uint32_t reserved;
  uint64_t allowed_iovas;  // user pointer to num_iovas IommufdIovaRange
  uint64_t out_iova_alignment;
};

struct IommufdIovaRange {
  uint64_t start;
  uint64_t last;  // inclusive
};

constexpr uint32_t kIoasMapFixedIova = 1u << 0;
constexpr uint32_t kIoasMapWriteable = 1u << 1;
constexpr uint32_t kIoasMapReadable = 1u << 2;
struct IommuIoasMap {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  uint32_t reserved;
  uint64_t user_va;
  uint64_t length;
  uint64_t iova;
};

struct IommuIoasUnmap {
  uint32_t size;
  uint32_t ioas_id;
  uint64_t iova;
  uint64_t length;
};

static_assert(sizeof(InfoCapHeader) == 8, "vfio_info_cap_header is 8 bytes");
static_assert(sizeof(RegionCapSparseMmap) == 16, "vfio_region_info_cap_sparse_mmap header is 16 bytes");
static_assert(sizeof(IommuType1Info) == 24, "vfio_iommu_type1_info is 24 bytes");
static_assert(sizeof(IommuDmaMap) == 32, "vfio_iommu_type1_dma_map is 32 bytes");
static_assert(sizeof(IommuDmaUnmap) == 24, "vfio_iommu_type1_dma_unmap is 24 bytes");
static_assert(sizeof(IommuIoasIovaRanges) == 32, "iommu_ioas_iova_ranges is 32 bytes");
static_assert(sizeof(IommuIoasMap) == 40, "iommu_ioas_map is 40 bytes");
static_assert(sizeof(IommuIoasUnmap) == 24, "iommu_ioas_unmap is 24 bytes");

}  // namespace virq::uapi
