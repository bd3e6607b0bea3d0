// The IOMMU side of DMA: the VFIO type1 container (VFIO_IOMMU_GET_INFO with its capability chain,
// VFIO_IOMMU_MAP_DMA / UNMAP_DMA) and iommufd IO address spaces (IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP
// / UNMAP, IOMMU_DESTROY). On plain fd numbers; the JS classes own the fds. errno is passed through
// untouched (the TS layer says what an ENOMEM, ENOSPC or EINVAL means for the caller).
#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "common.h"
#include "mem_uapi.h"

namespace virq {
namespace {

using namespace uapi;

Napi::Object Range(Napi::Env env, uint64_t start, uint64_t end) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("start", Napi::BigInt::New(env, start));
  o.Set("end", Napi::BigInt::New(env, end));
  return o;
}

/**
 * iommuGetInfo(containerFd): VFIO_IOMMU_GET_INFO (type1). Asked twice when the kernel has
 * capabilities (argsz grows); decodes the IOVA ranges and the DMA mappings still available (what is
 * left of the module's dma_entry_limit). `iovaRanges` is null when the kernel reported none (then the
 * whole 64-bit space less nothing is claimed valid, as before 5.4).
 */
Napi::Value IommuGetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::vector<uint8_t> buf(sizeof(IommuType1Info), 0);
  reinterpret_cast<IommuType1Info*>(buf.data())->argsz = sizeof(IommuType1Info);
  IoctlOrThrow(env, fd, kIommuGetInfo, buf.data(), "VFIO_IOMMU_GET_INFO");
  uint32_t want = reinterpret_cast<IommuType1Info*>(buf.data())->argsz;
  if (want > sizeof(IommuType1Info) && want <= (1u << 20)) {
    buf.assign(want, 0);
    reinterpret_cast<IommuType1Info*>(buf.data())->argsz = want;
    IoctlOrThrow(env, fd, kIommuGetInfo, buf.data(), "VFIO_IOMMU_GET_INFO");
  }
  IommuType1Info ti;
  std::memcpy(&ti, buf.data(), sizeof ti);
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", ti.argsz);
  out.Set("flags", ti.flags);
  out.Set("iovaPgsizes", Napi::BigInt::New(env, (ti.flags & kIommuInfoPgsizes) ? ti.iova_pgsizes : 0));
  Napi::Array caps = Napi::Array::New(env);
  out.Set("caps", caps);
  out.Set("iovaRanges", env.Null());
  out.Set("dmaAvail", env.Null());
  if ((ti.flags & kIommuInfoCaps) == 0 || buf.size() <= sizeof ti) return out;
  uint32_t off = ti.cap_offset;
  for (uint32_t n = 0; off != 0 && n < 64; n++) {
    if (off < sizeof ti || off + sizeof(InfoCapHeader) > buf.size()) break;
    InfoCapHeader hdr;
    std::memcpy(&hdr, buf.data() + off, sizeof hdr);
    caps.Set(caps.Length(), Napi::Number::New(env, hdr.id));
    if (hdr.id == kIommuCapIovaRange && off + sizeof(IommuCapIovaRange) <= buf.size()) {
      IommuCapIovaRange cap;
      std::memcpy(&cap, buf.data() + off, sizeof cap);
      Napi::Array ranges = Napi::Array::New(env);
      for (uint32_t i = 0; i < cap.nr_iovas; i++) {
        size_t at = off + sizeof cap + i * sizeof(IovaRange);
        if (at + sizeof(IovaRange) > buf.size()) break;
        IovaRange r;
        std::memcpy(&r, buf.data() + at, sizeof r);
        ranges.Set(i, Range(env, r.start, r.end));
      }
      out.Set("iovaRanges", ranges);
    } else if (hdr.id == kIommuCapDmaAvail && off + sizeof(IommuCapDmaAvail) <= buf.size()) {
      IommuCapDmaAvail cap;
      std::memcpy(&cap, buf.data() + off, sizeof cap);
      out.Set("dmaAvail", cap.avail);
    }
    if (hdr.next != 0 && hdr.next <= off) break;
    off = hdr.next;
  }
  return out;
}

/** iommuMapDma(containerFd, vaddr, iova, size, flags): VFIO_IOMMU_MAP_DMA (pins the pages). */
Napi::Value IommuMapDma(const Napi::CallbackInfo& info) {
  IommuDmaMap map = {};
  int fd = ArgFd(info, 0, "fd");
  map.argsz = sizeof map;
  map.vaddr = ArgUint64(info, 1, "vaddr");
  map.iova = ArgUint64(info, 2, "iova");
  map.size = ArgUint64(info, 3, "size");
  map.flags = ArgUint32(info, 4, "flags");
  IoctlOrThrow(info.Env(), fd, kIommuMapDma, &map, "VFIO_IOMMU_MAP_DMA");
  return info.Env().Undefined();
}

/** iommuUnmapDma(containerFd, iova, size) -> bytes unmapped (the kernel writes it back into size). */
Napi::Value IommuUnmapDma(const Napi::CallbackInfo& info) {
  IommuDmaUnmap unmap = {};
  int fd = ArgFd(info, 0, "fd");
  unmap.argsz = sizeof unmap;
  unmap.iova = ArgUint64(info, 1, "iova");
  unmap.size = ArgUint64(info, 2, "size");
  IoctlOrThrow(info.Env(), fd, kIommuUnmapDma, &unmap, "VFIO_IOMMU_UNMAP_DMA");
  return Napi::BigInt::New(info.Env(), unmap.size);
}

/**
 * ioasIovaRanges(iommufd, ioasId) -> { ranges, alignment }: IOMMU_IOAS_IOVA_RANGES; the kernel answers
 * EMSGSIZE with the count it needs when the array is too small, so it is asked again with that.
 */
Napi::Value IoasIovaRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t ioas = ArgUint32(info, 1, "ioasId");
  std::vector<IommufdIovaRange> ranges(8);
  IommuIoasIovaRanges req = {};
  for (int attempt = 0;; attempt++) {
    req = {};
    req.size = sizeof req;
    req.ioas_id = ioas;
    req.num_iovas = static_cast<uint32_t>(ranges.size());
    req.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
    if (IoctlRetry(fd, kIommuIoasIovaRanges, &req) == 0) break;
    if (errno == EMSGSIZE && attempt < 4 && req.num_iovas > ranges.size() && req.num_iovas < 65536) {
      ranges.resize(req.num_iovas);
      continue;
    }
    ThrowErrno(env, errno, "ioctl(IOMMU_IOAS_IOVA_RANGES)");
  }
  Napi::Object out = Napi::Object::New(env);
  Napi::Array arr = Napi::Array::New(env);
  for (uint32_t i = 0; i < req.num_iovas && i < ranges.size(); i++) arr.Set(i, Range(env, ranges[i].start, ranges[i].last));
  out.Set("ranges", arr);
  out.Set("alignment", Napi::BigInt::New(env, req.out_iova_alignment));
  return out;
}

/** ioasMap(iommufd, ioasId, vaddr, length, iova, flags) -> iova (FIXED_IOVA: the one asked for). */
Napi::Value IoasMap(const Napi::CallbackInfo& info) {
  IommuIoasMap map = {};
  int fd = ArgFd(info, 0, "fd");
  map.size = sizeof map;
  map.ioas_id = ArgUint32(info, 1, "ioasId");
  map.user_va = ArgUint64(info, 2, "vaddr");
  map.length = ArgUint64(info, 3, "length");
  map.iova = ArgUint64(info, 4, "iova");
  map.flags = ArgUint32(info, 5, "flags");
  IoctlOrThrow(info.Env(), fd, kIommuIoasMap, &map, "IOMMU_IOAS_MAP");
  return Napi::BigInt::New(info.Env(), map.iova);
}

/** ioasUnmap(iommufd, ioasId, iova, length) -> bytes unmapped. */
Napi::Value IoasUnmap(const Napi::CallbackInfo& info) {
  IommuIoasUnmap unmap = {};
  int fd = ArgFd(info, 0, "fd");
  unmap.size = sizeof unmap;
  unmap.ioas_id = ArgUint32(info, 1, "ioasId");
  unmap.iova = ArgUint64(info, 2, "iova");
  unmap.length = ArgUint64(info, 3, "length");
  IoctlOrThrow(info.Env(), fd, kIommuIoasUnmap, &unmap, "IOMMU_IOAS_UNMAP");
  return Napi::BigInt::New(info.Env(), unmap.length);
}

/** iommuDestroy(iommufd, id): IOMMU_DESTROY of an IOAS (or any iommufd object). */
Napi::Value IommuDestroyObj(const Napi::CallbackInfo& info) {
  IommuDestroy d = {};
  int fd = ArgFd(info, 0, "fd");
  d.size = sizeof d;
  d.id = ArgUint32(info, 1, "id");
  IoctlOrThrow(info.Env(), fd, kIommuDestroy, &d, "IOMMU_DESTROY");
  return info.Env().Undefined();
}

}  // namespace

void InitIommu(Napi::Env env, Napi::Object exports) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("getInfo", Napi::Function::New<IommuGetInfo>(env, "getInfo"));
  m.Set("mapDma", Napi::Function::New<IommuMapDma>(env, "mapDma"));
  m.Set("unmapDma", Napi::Function::New<IommuUnmapDma>(env, "unmapDma"));
  m.Set("ioasIovaRanges", Napi::Function::New<IoasIovaRanges>(env, "ioasIovaRanges"));
  m.Set("ioasMap", Napi::Function::New<IoasMap>(env, "ioasMap"));
  m.Set("ioasUnmap", Napi::Function::New<IoasUnmap>(env, "ioasUnmap"));
  m.Set("destroy", Napi::Function::New<IommuDestroyObj>(env, "destroy"));
  m.Set("DMA_MAP_FLAG_READ", kDmaMapFlagRead);
  m.Set("DMA_MAP_FLAG_WRITE", kDmaMapFlagWrite);
  m.Set("IOAS_MAP_FIXED_IOVA", kIoasMapFixedIova);
  m.Set("IOAS_MAP_WRITEABLE", kIoasMapWriteable);
  m.Set("IOAS_MAP_READABLE", kIoasMapReadable);
  exports.Set("iommu", m);
}

}  // namespace virq

namespace virq {
namespace {

void MemField(Napi::Env env, Napi::Object s, const char* name, size_t offset, size_t size) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, static_cast<double>(offset)));
  pair.Set(1u, Napi::Number::New(env, static_cast<double>(size)));
  s.Get("fields").As<Napi::Object>().Set(name, pair);
}

Napi::Object MemStruct(Napi::Env env, size_t size, const char* header, const char* guard) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  s.Set("header", header);
  s.Set("guard", guard != nullptr ? Napi::Value(Napi::String::New(env, guard)) : env.Null());
  s.Set("fields", Napi::Object::New(env));
  return s;
}

}  // namespace

// The device-memory part of the uapi table (vfio.cc's Uapi() calls this), so the layout test proves
// mem_uapi.h equal to the machine's headers too. vfio_iommu_type1_info is left out: 6.1's header has
// no `pad` member (the compiler pads it to the same 24 bytes; mem_uapi.h's static_assert pins that).
void AddMemUapi(Napi::Env env, Napi::Object ioctls, Napi::Object constants, Napi::Object structs) {
  using namespace uapi;
#define VIRQ_NUM(obj, name, value) obj.Set(#name, Napi::Number::New(env, static_cast<double>(value)))
  VIRQ_NUM(ioctls, VFIO_IOMMU_GET_INFO, kIommuGetInfo);
  VIRQ_NUM(ioctls, VFIO_IOMMU_MAP_DMA, kIommuMapDma);
  VIRQ_NUM(ioctls, VFIO_IOMMU_UNMAP_DMA, kIommuUnmapDma);
  VIRQ_NUM(ioctls, IOMMU_DESTROY, kIommuDestroy);
  VIRQ_NUM(ioctls, IOMMU_IOAS_IOVA_RANGES, kIommuIoasIovaRanges);
  VIRQ_NUM(ioctls, IOMMU_IOAS_MAP, kIommuIoasMap);
  VIRQ_NUM(ioctls, IOMMU_IOAS_UNMAP, kIommuIoasUnmap);
  VIRQ_NUM(constants, VFIO_REGION_INFO_CAP_SPARSE_MMAP, kRegionCapSparseMmap);
  VIRQ_NUM(constants, VFIO_REGION_INFO_CAP_TYPE, kRegionCapType);
  VIRQ_NUM(constants, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, kRegionCapMsixMappable);
  VIRQ_NUM(constants, VFIO_IOMMU_INFO_PGSIZES, kIommuInfoPgsizes);
  VIRQ_NUM(constants, VFIO_IOMMU_INFO_CAPS, kIommuInfoCaps);
  VIRQ_NUM(constants, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, kIommuCapIovaRange);
  VIRQ_NUM(constants, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, kIommuCapMigration);
  VIRQ_NUM(constants, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, kIommuCapDmaAvail);
  VIRQ_NUM(constants, VFIO_DMA_MAP_FLAG_READ, kDmaMapFlagRead);
  VIRQ_NUM(constants, VFIO_DMA_MAP_FLAG_WRITE, kDmaMapFlagWrite);
  VIRQ_NUM(constants, IOMMU_IOAS_MAP_FIXED_IOVA, kIoasMapFixedIova);
  VIRQ_NUM(constants, IOMMU_IOAS_MAP_WRITEABLE, kIoasMapWriteable);
  VIRQ_NUM(constants, IOMMU_IOAS_MAP_READABLE, kIoasMapReadable);
#undef VIRQ_NUM
#define VIRQ_F(s, S, f) MemField(env, s, #f, offsetof(S, f), sizeof(((S*)nullptr)->f))
  {
    Napi::Object s = MemStruct(env, sizeof(InfoCapHeader), "linux/vfio.h", nullptr);
    VIRQ_F(s, InfoCapHeader, id);
    VIRQ_F(s, InfoCapHeader, version);
    VIRQ_F(s, InfoCapHeader, next);
    structs.Set("vfio_info_cap_header", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(SparseMmapArea), "linux/vfio.h", nullptr);
    VIRQ_F(s, SparseMmapArea, offset);
    VIRQ_F(s, SparseMmapArea, size);
    structs.Set("vfio_region_sparse_mmap_area", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(RegionCapSparseMmap), "linux/vfio.h", nullptr);
    VIRQ_F(s, RegionCapSparseMmap, header);
    VIRQ_F(s, RegionCapSparseMmap, nr_areas);
    VIRQ_F(s, RegionCapSparseMmap, reserved);
    structs.Set("vfio_region_info_cap_sparse_mmap", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(RegionCapType), "linux/vfio.h", nullptr);
    VIRQ_F(s, RegionCapType, header);
    VIRQ_F(s, RegionCapType, type);
    VIRQ_F(s, RegionCapType, subtype);
    structs.Set("vfio_region_info_cap_type", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IovaRange), "linux/vfio.h", nullptr);
    VIRQ_F(s, IovaRange, start);
    VIRQ_F(s, IovaRange, end);
    structs.Set("vfio_iova_range", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuCapIovaRange), "linux/vfio.h", nullptr);
    VIRQ_F(s, IommuCapIovaRange, header);
    VIRQ_F(s, IommuCapIovaRange, nr_iovas);
    VIRQ_F(s, IommuCapIovaRange, reserved);
    structs.Set("vfio_iommu_type1_info_cap_iova_range", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuCapDmaAvail), "linux/vfio.h", nullptr);
    VIRQ_F(s, IommuCapDmaAvail, header);
    VIRQ_F(s, IommuCapDmaAvail, avail);
    structs.Set("vfio_iommu_type1_info_dma_avail", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuDmaMap), "linux/vfio.h", nullptr);
    VIRQ_F(s, IommuDmaMap, argsz);
    VIRQ_F(s, IommuDmaMap, flags);
    VIRQ_F(s, IommuDmaMap, vaddr);
    VIRQ_F(s, IommuDmaMap, iova);
    VIRQ_F(s, IommuDmaMap, size);
    structs.Set("vfio_iommu_type1_dma_map", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuDmaUnmap), "linux/vfio.h", nullptr);
    VIRQ_F(s, IommuDmaUnmap, argsz);
    VIRQ_F(s, IommuDmaUnmap, flags);
    VIRQ_F(s, IommuDmaUnmap, iova);
    VIRQ_F(s, IommuDmaUnmap, size);
    structs.Set("vfio_iommu_type1_dma_unmap", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuDestroy), "linux/iommufd.h", "IOMMU_DESTROY");
    VIRQ_F(s, IommuDestroy, size);
    VIRQ_F(s, IommuDestroy, id);
    structs.Set("iommu_destroy", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuIoasIovaRanges), "linux/iommufd.h", "IOMMU_IOAS_IOVA_RANGES");
    VIRQ_F(s, IommuIoasIovaRanges, size);
    VIRQ_F(s, IommuIoasIovaRanges, ioas_id);
    VIRQ_F(s, IommuIoasIovaRanges, num_iovas);
    VIRQ_F(s, IommuIoasIovaRanges, allowed_iovas);
    VIRQ_F(s, IommuIoasIovaRanges, out_iova_alignment);
    structs.Set("iommu_ioas_iova_ranges", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommufdIovaRange), "linux/iommufd.h", "IOMMU_IOAS_IOVA_RANGES");
    VIRQ_F(s, IommufdIovaRange, start);
    VIRQ_F(s, IommufdIovaRange, last);
    structs.Set("iommu_iova_range", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuIoasMap), "linux/iommufd.h", "IOMMU_IOAS_MAP");
    VIRQ_F(s, IommuIoasMap, size);
    VIRQ_F(s, IommuIoasMap, flags);
    VIRQ_F(s, IommuIoasMap, ioas_id);
    VIRQ_F(s, IommuIoasMap, user_va);
    VIRQ_F(s, IommuIoasMap, length);
    VIRQ_F(s, IommuIoasMap, iova);
    structs.Set("iommu_ioas_map", s);
  }
  {
    Napi::Object s = MemStruct(env, sizeof(IommuIoasUnmap), "linux/iommufd.h", "IOMMU_IOAS_UNMAP");
    VIRQ_F(s, IommuIoasUnmap, size);
    VIRQ_F(s, IommuIoasUnmap, ioas_id);
    VIRQ_F(s, IommuIoasUnmap, iova);
    VIRQ_F(s, IommuIoasUnmap, length);
    structs.Set("iommu_ioas_unmap", s);
  }
#undef VIRQ_F
}

}  // namespace virq
