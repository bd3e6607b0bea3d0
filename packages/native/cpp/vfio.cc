// VFIO container / group / device ioctls and region access, on plain fd numbers (the JS classes own the
// fds). Every failure throws a Node-style error whose syscall names the ioctl: 'ioctl(VFIO_DEVICE_SET_IRQS)'.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "common.h"
#include "vfio_uapi.h"

namespace virq {
namespace {

using namespace uapi;

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "The \"path\" argument must be a string");
  std::string path = info[0].As<Napi::String>();
  int flags = info[1].IsUndefined() ? O_RDWR : ArgInt32(info, 1, "flags", 0, INT32_MAX);
  int fd;
  do {
    fd = open(path.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowErrno(env, errno, "open", path.c_str());
  return Napi::Number::New(env, fd);
}

Napi::Value GetApiVersion(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  return Napi::Number::New(info.Env(), IoctlValue(info.Env(), fd, kGetApiVersion, 0, "VFIO_GET_API_VERSION"));
}

Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  uint32_t ext = ArgUint32(info, 1, "extension");
  return Napi::Number::New(info.Env(), IoctlValue(info.Env(), fd, kCheckExtension, ext, "VFIO_CHECK_EXTENSION"));
}

Napi::Value SetIommu(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  uint32_t type = ArgUint32(info, 1, "type");
  IoctlValue(info.Env(), fd, kSetIommu, type, "VFIO_SET_IOMMU");
  return info.Env().Undefined();
}

Napi::Value GroupGetStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  GroupStatus status = {sizeof(GroupStatus), 0};
  IoctlOrThrow(env, fd, kGroupGetStatus, &status, "VFIO_GROUP_GET_STATUS");
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", status.argsz);
  out.Set("flags", status.flags);
  return out;
}

Napi::Value GroupSetContainer(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  int container = ArgFd(info, 1, "containerFd", true);
  IoctlOrThrow(info.Env(), fd, kGroupSetContainer, &container, "VFIO_GROUP_SET_CONTAINER");
  return info.Env().Undefined();
}

Napi::Value GroupUnsetContainer(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  IoctlValue(info.Env(), fd, kGroupUnsetContainer, 0, "VFIO_GROUP_UNSET_CONTAINER");
  return info.Env().Undefined();
}

Napi::Value GroupGetDeviceFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  if (!info[1].IsString()) ThrowTypeError(env, "The \"name\" argument must be a string");
  std::string name = info[1].As<Napi::String>();
  // The kernel opens the device fd with O_CLOEXEC itself.
  int dev = IoctlOrThrow(env, fd, kGroupGetDeviceFd, name.data(), "VFIO_GROUP_GET_DEVICE_FD");
  return Napi::Number::New(env, dev);
}

Napi::Value DeviceGetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  DeviceInfo di = {};
  di.argsz = sizeof di;
  IoctlOrThrow(env, fd, kDeviceGetInfo, &di, "VFIO_DEVICE_GET_INFO");
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", di.argsz);
  out.Set("flags", di.flags);
  out.Set("numRegions", di.num_regions);
  out.Set("numIrqs", di.num_irqs);
  out.Set("capOffset", di.cap_offset);
  return out;
}

Napi::Value DeviceGetRegionInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  RegionInfo ri = {};
  ri.argsz = sizeof ri;
  ri.index = ArgUint32(info, 1, "index");
  IoctlOrThrow(env, fd, kDeviceGetRegionInfo, &ri, "VFIO_DEVICE_GET_REGION_INFO");
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", ri.argsz);
  out.Set("flags", ri.flags);
  out.Set("index", ri.index);
  out.Set("capOffset", ri.cap_offset);
  out.Set("size", Napi::BigInt::New(env, ri.size));
  out.Set("offset", Napi::BigInt::New(env, ri.offset));
  return out;
}

Napi::Value DeviceGetIrqInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  IrqInfo ii = {};
  ii.index = ArgUint32(info, 1, "index");
  // An explicit argsz lets callers probe the kernel's own argument checks (argsz < 16 -> EINVAL).
  ii.argsz = info[2].IsUndefined() ? sizeof ii : ArgUint32(info, 2, "argsz");
  IoctlOrThrow(env, fd, kDeviceGetIrqInfo, &ii, "VFIO_DEVICE_GET_IRQ_INFO");
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", ii.argsz);
  out.Set("flags", ii.flags);
  out.Set("index", ii.index);
  out.Set("count", ii.count);
  return out;
}

/**
 * setIrqs(fd, flags, index, start, count, data?, argsz?): builds struct vfio_irq_set followed by the
 * raw bytes of `data` (an Int32Array of fds, a Uint8Array of bools, or nothing). argsz defaults to
 * the bytes actually sent, so a data array shorter than count is the kernel's truncated-argsz case.
 */
Napi::Value DeviceSetIrqs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd", true);
  IrqSet hdr = {};
  hdr.flags = ArgUint32(info, 1, "flags");
  hdr.index = ArgUint32(info, 2, "index");
  hdr.start = ArgUint32(info, 3, "start");
  hdr.count = ArgUint32(info, 4, "count");
  const uint8_t* data = nullptr;
  size_t data_bytes = 0;
  if (!info[5].IsUndefined() && !info[5].IsNull()) {
    if (!info[5].IsTypedArray()) ThrowTypeError(env, "The \"data\" argument must be an Int32Array or a Uint8Array");
    Napi::TypedArray ta = info[5].As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    data_bytes = ta.ByteLength();
  }
  size_t natural = sizeof hdr + data_bytes;
  size_t alloc = natural;
  if (info[6].IsUndefined()) {
    hdr.argsz = static_cast<uint32_t>(natural);
  } else {
    hdr.argsz = ArgUint32(info, 6, "argsz");
    // The kernel copies at most count * 4 data bytes, and only if argsz claims them: back any bytes a
    // larger argsz claims with zeros so it never reads past our buffer.
    size_t claimed = std::min<size_t>(hdr.argsz, sizeof hdr + static_cast<size_t>(hdr.count) * 4);
    if (claimed > (size_t{64} << 20)) ThrowRangeError(env, "setIrqs: argsz claims more than 64 MiB of data");
    alloc = std::max(alloc, claimed);
  }
  std::vector<uint8_t> buf(alloc, 0);
  std::memcpy(buf.data(), &hdr, sizeof hdr);
  if (data_bytes > 0) std::memcpy(buf.data() + sizeof hdr, data, data_bytes);
  int r = IoctlOrThrow(env, fd, kDeviceSetIrqs, buf.data(), "VFIO_DEVICE_SET_IRQS");
  return Napi::Number::New(env, r);
}

Napi::Value DeviceReset(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  IoctlValue(info.Env(), fd, kDeviceReset, 0, "VFIO_DEVICE_RESET");
  return info.Env().Undefined();
}

Napi::Value BindIommufd(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  DeviceBindIommufd bind = {};
  bind.argsz = sizeof bind;
  bind.iommufd = ArgFd(info, 1, "iommufd", true);  // -1: no-IOMMU mode
  IoctlOrThrow(info.Env(), fd, kDeviceBindIommufd, &bind, "VFIO_DEVICE_BIND_IOMMUFD");
  return Napi::Number::New(info.Env(), bind.out_devid);
}

Napi::Value AttachIommufdPt(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  DeviceAttachIommufdPt attach = {};
  attach.argsz = sizeof attach;
  attach.pt_id = ArgUint32(info, 1, "ptId");
  IoctlOrThrow(info.Env(), fd, kDeviceAttachIommufdPt, &attach, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
  return Napi::Number::New(info.Env(), attach.pt_id);
}

Napi::Value IoasAlloc(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  IommuIoasAlloc alloc = {};
  alloc.size = sizeof alloc;
  IoctlOrThrow(info.Env(), fd, kIommuIoasAlloc, &alloc, "IOMMU_IOAS_ALLOC");
  return Napi::Number::New(info.Env(), alloc.out_ioas_id);
}

off_t ArgOffset(const Napi::CallbackInfo& info, size_t i) {
  uint64_t off = ArgUint64(info, i, "offset");
  if (off > static_cast<uint64_t>(INT64_MAX)) ThrowRangeError(info.Env(), "The \"offset\" argument is too large");
  return static_cast<off_t>(off);
}

Napi::TypedArray ArgBytes(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(info.Env(), "The \"buffer\" argument must be a Uint8Array or Buffer");
  }
  return info[i].As<Napi::TypedArray>();
}

/** pread(fd, buffer, offset) -> bytes read. For vfio-pci, a region's bytes live at its info.offset. */
Napi::Value Pread(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  Napi::TypedArray buf = ArgBytes(info, 1);
  off_t off = ArgOffset(info, 2);
  auto* p = static_cast<uint8_t*>(buf.ArrayBuffer().Data()) + buf.ByteOffset();
  ssize_t n;
  do {
    n = pread(fd, p, buf.ByteLength(), off);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, "pread");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value Pwrite(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  Napi::TypedArray buf = ArgBytes(info, 1);
  off_t off = ArgOffset(info, 2);
  auto* p = static_cast<const uint8_t*>(buf.ArrayBuffer().Data()) + buf.ByteOffset();
  ssize_t n;
  do {
    n = pwrite(fd, p, buf.ByteLength(), off);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, "pwrite");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// ---- the uapi table: what this addon was compiled with, for the layout probe test and @virq/core ----

void Field(Napi::Env env, Napi::Object fields, const char* name, size_t offset, size_t size) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, static_cast<double>(offset)));
  pair.Set(1u, Napi::Number::New(env, static_cast<double>(size)));
  fields.Set(name, pair);
}

#define VIRQ_FIELD(S, f, jsname) Field(env, fields, jsname, offsetof(S, f), sizeof(((S*)nullptr)->f))

Napi::Object Struct(Napi::Env env, size_t size, const char* header, const char* guard) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  s.Set("header", header);
  s.Set("guard", guard != nullptr ? Napi::Value(Napi::String::New(env, guard)) : env.Null());
  s.Set("fields", Napi::Object::New(env));
  return s;
}

Napi::Value Uapi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);

  Napi::Object ioctls = Napi::Object::New(env);
#define VIRQ_IOCTL(name, value) ioctls.Set(#name, Napi::Number::New(env, static_cast<double>(value)))
  VIRQ_IOCTL(VFIO_GET_API_VERSION, kGetApiVersion);
  VIRQ_IOCTL(VFIO_CHECK_EXTENSION, kCheckExtension);
  VIRQ_IOCTL(VFIO_SET_IOMMU, kSetIommu);
  VIRQ_IOCTL(VFIO_GROUP_GET_STATUS, kGroupGetStatus);
  VIRQ_IOCTL(VFIO_GROUP_SET_CONTAINER, kGroupSetContainer);
  VIRQ_IOCTL(VFIO_GROUP_UNSET_CONTAINER, kGroupUnsetContainer);
  VIRQ_IOCTL(VFIO_GROUP_GET_DEVICE_FD, kGroupGetDeviceFd);
  VIRQ_IOCTL(VFIO_DEVICE_GET_INFO, kDeviceGetInfo);
  VIRQ_IOCTL(VFIO_DEVICE_GET_REGION_INFO, kDeviceGetRegionInfo);
  VIRQ_IOCTL(VFIO_DEVICE_GET_IRQ_INFO, kDeviceGetIrqInfo);
  VIRQ_IOCTL(VFIO_DEVICE_SET_IRQS, kDeviceSetIrqs);
  VIRQ_IOCTL(VFIO_DEVICE_RESET, kDeviceReset);
  VIRQ_IOCTL(VFIO_DEVICE_BIND_IOMMUFD, kDeviceBindIommufd);
  VIRQ_IOCTL(VFIO_DEVICE_ATTACH_IOMMUFD_PT, kDeviceAttachIommufdPt);
  VIRQ_IOCTL(IOMMU_IOAS_ALLOC, kIommuIoasAlloc);
#undef VIRQ_IOCTL
  out.Set("ioctls", ioctls);

  Napi::Object constants = Napi::Object::New(env);
#define VIRQ_CONST(name, value) constants.Set(#name, Napi::Number::New(env, static_cast<double>(value)))
  VIRQ_CONST(VFIO_API_VERSION, kApiVersion);
  VIRQ_CONST(VFIO_TYPE1_IOMMU, 1);
  VIRQ_CONST(VFIO_SPAPR_TCE_IOMMU, 2);
  VIRQ_CONST(VFIO_TYPE1v2_IOMMU, 3);
  VIRQ_CONST(VFIO_DMA_CC_IOMMU, 4);
  VIRQ_CONST(VFIO_EEH, 5);
  VIRQ_CONST(VFIO_SPAPR_TCE_v2_IOMMU, 7);
  VIRQ_CONST(VFIO_NOIOMMU_IOMMU, 8);
  VIRQ_CONST(VFIO_UNMAP_ALL, 9);
  VIRQ_CONST(VFIO_UPDATE_VADDR, 10);
  VIRQ_CONST(VFIO_GROUP_FLAGS_VIABLE, 1u << 0);
  VIRQ_CONST(VFIO_GROUP_FLAGS_CONTAINER_SET, 1u << 1);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_RESET, 1u << 0);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_PCI, 1u << 1);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_PLATFORM, 1u << 2);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_AMBA, 1u << 3);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_CCW, 1u << 4);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_AP, 1u << 5);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_FSL_MC, 1u << 6);
  VIRQ_CONST(VFIO_DEVICE_FLAGS_CAPS, 1u << 7);
  VIRQ_CONST(VFIO_REGION_INFO_FLAG_READ, 1u << 0);
  VIRQ_CONST(VFIO_REGION_INFO_FLAG_WRITE, 1u << 1);
  VIRQ_CONST(VFIO_REGION_INFO_FLAG_MMAP, 1u << 2);
  VIRQ_CONST(VFIO_REGION_INFO_FLAG_CAPS, 1u << 3);
  VIRQ_CONST(VFIO_IRQ_INFO_EVENTFD, 1u << 0);
  VIRQ_CONST(VFIO_IRQ_INFO_MASKABLE, 1u << 1);
  VIRQ_CONST(VFIO_IRQ_INFO_AUTOMASKED, 1u << 2);
  VIRQ_CONST(VFIO_IRQ_INFO_NORESIZE, 1u << 3);
  VIRQ_CONST(VFIO_IRQ_SET_DATA_NONE, 1u << 0);
  VIRQ_CONST(VFIO_IRQ_SET_DATA_BOOL, 1u << 1);
  VIRQ_CONST(VFIO_IRQ_SET_DATA_EVENTFD, 1u << 2);
  VIRQ_CONST(VFIO_IRQ_SET_ACTION_MASK, 1u << 3);
  VIRQ_CONST(VFIO_IRQ_SET_ACTION_UNMASK, 1u << 4);
  VIRQ_CONST(VFIO_IRQ_SET_ACTION_TRIGGER, 1u << 5);
  VIRQ_CONST(VFIO_IRQ_SET_DATA_TYPE_MASK, 0x7);
  VIRQ_CONST(VFIO_IRQ_SET_ACTION_TYPE_MASK, 0x38);
#undef VIRQ_CONST
  out.Set("constants", constants);

  // Enumerators (not macros) of vfio-pci's fixed region and IRQ index maps.
  Napi::Object enums = Napi::Object::New(env);
  const char* regions[] = {"VFIO_PCI_BAR0_REGION_INDEX", "VFIO_PCI_BAR1_REGION_INDEX", "VFIO_PCI_BAR2_REGION_INDEX",
                           "VFIO_PCI_BAR3_REGION_INDEX", "VFIO_PCI_BAR4_REGION_INDEX", "VFIO_PCI_BAR5_REGION_INDEX",
                           "VFIO_PCI_ROM_REGION_INDEX",  "VFIO_PCI_CONFIG_REGION_INDEX", "VFIO_PCI_VGA_REGION_INDEX",
                           "VFIO_PCI_NUM_REGIONS"};
  for (uint32_t i = 0; i < 10; i++) enums.Set(regions[i], Napi::Number::New(env, i));
  const char* irqs[] = {"VFIO_PCI_INTX_IRQ_INDEX", "VFIO_PCI_MSI_IRQ_INDEX", "VFIO_PCI_MSIX_IRQ_INDEX",
                        "VFIO_PCI_ERR_IRQ_INDEX", "VFIO_PCI_REQ_IRQ_INDEX", "VFIO_PCI_NUM_IRQS"};
  for (uint32_t i = 0; i < 6; i++) enums.Set(irqs[i], Napi::Number::New(env, i));
  out.Set("enums", enums);

  Napi::Object structs = Napi::Object::New(env);
  {
    Napi::Object s = Struct(env, sizeof(GroupStatus), "linux/vfio.h", nullptr);
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(GroupStatus, argsz, "argsz");
    VIRQ_FIELD(GroupStatus, flags, "flags");
    structs.Set("vfio_group_status", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(DeviceInfo), "linux/vfio.h", nullptr);
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(DeviceInfo, argsz, "argsz");
    VIRQ_FIELD(DeviceInfo, flags, "flags");
    VIRQ_FIELD(DeviceInfo, num_regions, "num_regions");
    VIRQ_FIELD(DeviceInfo, num_irqs, "num_irqs");
    VIRQ_FIELD(DeviceInfo, cap_offset, "cap_offset");
    structs.Set("vfio_device_info", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(RegionInfo), "linux/vfio.h", nullptr);
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(RegionInfo, argsz, "argsz");
    VIRQ_FIELD(RegionInfo, flags, "flags");
    VIRQ_FIELD(RegionInfo, index, "index");
    VIRQ_FIELD(RegionInfo, cap_offset, "cap_offset");
    VIRQ_FIELD(RegionInfo, size, "size");
    VIRQ_FIELD(RegionInfo, offset, "offset");
    structs.Set("vfio_region_info", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(IrqInfo), "linux/vfio.h", nullptr);
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(IrqInfo, argsz, "argsz");
    VIRQ_FIELD(IrqInfo, flags, "flags");
    VIRQ_FIELD(IrqInfo, index, "index");
    VIRQ_FIELD(IrqInfo, count, "count");
    structs.Set("vfio_irq_info", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(IrqSet), "linux/vfio.h", nullptr);
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(IrqSet, argsz, "argsz");
    VIRQ_FIELD(IrqSet, flags, "flags");
    VIRQ_FIELD(IrqSet, index, "index");
    VIRQ_FIELD(IrqSet, start, "start");
    VIRQ_FIELD(IrqSet, count, "count");
    // data[] begins right after the header, at sizeof(header).
    Field(env, fields, "data", sizeof(IrqSet), 0);
    structs.Set("vfio_irq_set", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(DeviceBindIommufd), "linux/vfio.h", "VFIO_DEVICE_BIND_IOMMUFD");
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(DeviceBindIommufd, argsz, "argsz");
    VIRQ_FIELD(DeviceBindIommufd, flags, "flags");
    VIRQ_FIELD(DeviceBindIommufd, iommufd, "iommufd");
    VIRQ_FIELD(DeviceBindIommufd, out_devid, "out_devid");
    structs.Set("vfio_device_bind_iommufd", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(DeviceAttachIommufdPt), "linux/vfio.h", "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(DeviceAttachIommufdPt, argsz, "argsz");
    VIRQ_FIELD(DeviceAttachIommufdPt, flags, "flags");
    VIRQ_FIELD(DeviceAttachIommufdPt, pt_id, "pt_id");
    structs.Set("vfio_device_attach_iommufd_pt", s);
  }
  {
    Napi::Object s = Struct(env, sizeof(IommuIoasAlloc), "linux/iommufd.h", "IOMMU_IOAS_ALLOC");
    Napi::Object fields = s.Get("fields").As<Napi::Object>();
    VIRQ_FIELD(IommuIoasAlloc, size, "size");
    VIRQ_FIELD(IommuIoasAlloc, flags, "flags");
    VIRQ_FIELD(IommuIoasAlloc, out_ioas_id, "out_ioas_id");
    structs.Set("iommu_ioas_alloc", s);
  }
  AddMemUapi(env, ioctls, constants, structs);  // iommu.cc
  out.Set("structs", structs);
  return out;
}

#undef VIRQ_FIELD

}  // namespace

void InitVfio(Napi::Env env, Napi::Object exports) {
  Napi::Object v = Napi::Object::New(env);
  v.Set("open", Napi::Function::New<Open>(env, "open"));
  v.Set("getApiVersion", Napi::Function::New<GetApiVersion>(env, "getApiVersion"));
  v.Set("checkExtension", Napi::Function::New<CheckExtension>(env, "checkExtension"));
  v.Set("setIommu", Napi::Function::New<SetIommu>(env, "setIommu"));
  v.Set("groupGetStatus", Napi::Function::New<GroupGetStatus>(env, "groupGetStatus"));
  v.Set("groupSetContainer", Napi::Function::New<GroupSetContainer>(env, "groupSetContainer"));
  v.Set("groupUnsetContainer", Napi::Function::New<GroupUnsetContainer>(env, "groupUnsetContainer"));
  v.Set("groupGetDeviceFd", Napi::Function::New<GroupGetDeviceFd>(env, "groupGetDeviceFd"));
  v.Set("deviceGetInfo", Napi::Function::New<DeviceGetInfo>(env, "deviceGetInfo"));
  v.Set("deviceGetRegionInfo", Napi::Function::New<DeviceGetRegionInfo>(env, "deviceGetRegionInfo"));
  v.Set("deviceGetIrqInfo", Napi::Function::New<DeviceGetIrqInfo>(env, "deviceGetIrqInfo"));
  v.Set("deviceSetIrqs", Napi::Function::New<DeviceSetIrqs>(env, "deviceSetIrqs"));
  v.Set("deviceReset", Napi::Function::New<DeviceReset>(env, "deviceReset"));
  v.Set("deviceBindIommufd", Napi::Function::New<BindIommufd>(env, "deviceBindIommufd"));
  v.Set("deviceAttachIommufdPt", Napi::Function::New<AttachIommufdPt>(env, "deviceAttachIommufdPt"));
  v.Set("ioasAlloc", Napi::Function::New<IoasAlloc>(env, "ioasAlloc"));
  v.Set("pread", Napi::Function::New<Pread>(env, "pread"));
  v.Set("pwrite", Napi::Function::New<Pwrite>(env, "pwrite"));
  v.Set("uapi", Napi::Function::New<Uapi>(env, "uapi"));
  exports.Set("vfio", v);
}

}  // namespace virq
