// The IOMMU side of DMA: the VFIO type1 container (VFIO_IOMMU_GET_INFO with its capability chain,
// VFIO_IOMMU_MAP_DMA / UNMAP_DMA) and iommufd IO address spaces (IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP
// / UNMAP, IOMMU_DESTROY). On plain fd numbers; the JS classes own the fds. errno is passed through
// untouched (the TS layer says what an ENOMEM, ENOSPC or EINVAL means for the caller).
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "common.h"
#include "mem_uapi.h"

namespace virq {
namespace {

using namespace uapi;

void IoctlOrThrow(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, std::string("ioctl(") + name + ")");
}

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
    int r;
    do {
      r = ioctl(fd, kIommuIoasIovaRanges, &req);
    } while (r < 0 && errno == EINTR);
    if (r == 0) break;
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
