// The VFIO (and iommufd) user-space ABI as virq uses it, written from the kernel's documentation of
// include/uapi/linux/vfio.h and iommufd.h. Deliberately not #include <linux/vfio.h>: the addon must
// build against any kernel headers (Debian 12 ships 6.1's, which lack the cdev ioctls), and a test
// compiles a probe against the machine's header to prove every number, size and offset here equal.
#pragma once

#include <linux/ioctl.h>

#include <cstdint>

namespace virq::uapi {

constexpr unsigned kVfioType = ';';
constexpr unsigned kVfioBase = 100;

// _IO() comes from the architecture's <asm/ioctl.h>: VFIO's numbers carry no size or direction.
constexpr unsigned long kGetApiVersion = _IO(kVfioType, kVfioBase + 0);
constexpr unsigned long kCheckExtension = _IO(kVfioType, kVfioBase + 1);
constexpr unsigned long kSetIommu = _IO(kVfioType, kVfioBase + 2);
constexpr unsigned long kGroupGetStatus = _IO(kVfioType, kVfioBase + 3);
constexpr unsigned long kGroupSetContainer = _IO(kVfioType, kVfioBase + 4);
constexpr unsigned long kGroupUnsetContainer = _IO(kVfioType, kVfioBase + 5);
constexpr unsigned long kGroupGetDeviceFd = _IO(kVfioType, kVfioBase + 6);
constexpr unsigned long kDeviceGetInfo = _IO(kVfioType, kVfioBase + 7);
constexpr unsigned long kDeviceGetRegionInfo = _IO(kVfioType, kVfioBase + 8);
constexpr unsigned long kDeviceGetIrqInfo = _IO(kVfioType, kVfioBase + 9);
constexpr unsigned long kDeviceSetIrqs = _IO(kVfioType, kVfioBase + 10);
constexpr unsigned long kDeviceReset = _IO(kVfioType, kVfioBase + 11);
// The device cdev (/dev/vfio/devices/vfioX, Linux 6.6+) binds to an iommufd before any other ioctl.
constexpr unsigned long kDeviceBindIommufd = _IO(kVfioType, kVfioBase + 18);
constexpr unsigned long kDeviceAttachIommufdPt = _IO(kVfioType, kVfioBase + 19);

constexpr unsigned kIommufdType = ';';
constexpr unsigned kIommufdCmdBase = 0x80;
constexpr unsigned long kIommuIoasAlloc = _IO(kIommufdType, kIommufdCmdBase + 1);

constexpr uint32_t kApiVersion = 0;

struct GroupStatus {
  uint32_t argsz;
  uint32_t flags;
};

// Later kernels append `pad` (24 bytes); the argsz protocol lets an older, shorter struct ask.
struct DeviceInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
};

struct RegionInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t cap_offset;
  uint64_t size;
  uint64_t offset;
};

struct IrqInfo {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t count;
};

struct IrqSet {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t start;
  uint32_t count;
  // followed by `count` u8 (DATA_BOOL) or s32 (DATA_EVENTFD) entries
};

// Later kernels append token_uuid_ptr (24 bytes), used only with VFIO_DEVICE_BIND_FLAG_TOKEN.
struct DeviceBindIommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
};

// Later kernels append pasid (16 bytes), used only with VFIO_DEVICE_ATTACH_PASID.
struct DeviceAttachIommufdPt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
};

struct IommuIoasAlloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_ioas_id;
};

static_assert(sizeof(IrqSet) == 20, "vfio_irq_set header is 20 bytes");
static_assert(sizeof(IrqInfo) == 16, "vfio_irq_info is 16 bytes");
static_assert(sizeof(RegionInfo) == 32, "vfio_region_info is 32 bytes");

}  // namespace virq::uapi
