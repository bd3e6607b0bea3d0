// Device memory: MAP_SHARED mappings of an fd (a vfio device region, a memfd) wrapped in an external
// ArrayBuffer, memfd DMA memory, and VFIO_DEVICE_GET_REGION_INFO with its capability chain decoded.
//
// Lifetime of a mapping: the mmap belongs to a MapState shared by the JS Mapping object, the
// ArrayBuffer's finalizer and the per-environment registry. munmap happens exactly once: on unmap()
// (which detaches the ArrayBuffer first, so a later access through it sees length 0 and the typed-array
// methods throw TypeError instead of touching unmapped memory), when the last JS holder is collected,
// or when the environment (the main thread or a worker) is torn down.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "addon.h"
#include "common.h"
#include "mem_uapi.h"

namespace virq {
namespace {

using namespace uapi;

struct MemEnv;

/** One mmap(2). */
struct MapState {
  void* addr = nullptr;
  size_t length = 0;
  bool mapped = false;
  MemEnv* env = nullptr;
  ~MapState() { Unmap(); }
  void Unmap();
};

/** Per environment: the live mappings, unmapped by the env cleanup hook when the thread goes away. */
struct MemEnv {
  std::unordered_set<MapState*> live;
};

void MapState::Unmap() {
  if (!mapped) return;
  munmap(addr, length);
  mapped = false;
  if (env != nullptr) env->live.erase(this);
  env = nullptr;
}

void OnMemEnvCleanup(void* arg) {
  auto* me = static_cast<MemEnv*>(arg);
  std::unordered_set<MapState*> live;
  live.swap(me->live);
  for (MapState* s : live) {
    s->env = nullptr;
    s->Unmap();
  }
  delete me;
}

using StateRef = std::shared_ptr<MapState>;

/**
 * new Mapping(fd, offset, length, prot): mmap(NULL, length, prot, MAP_SHARED, fd, offset).
 * `buffer` is an ArrayBuffer over the mapping (undefined once unmapped), `address` its virtual address
 * (for VFIO_IOMMU_MAP_DMA / IOMMU_IOAS_MAP). For a regular file (memfd) the range must lie inside the
 * file: touching a page past its end would be SIGBUS.
 */
class Mapping : public Napi::ObjectWrap<Mapping> {
 public:
  static Napi::Function Define(Napi::Env env, MemEnv* me) {
    return DefineClass(env, "Mapping",
                       {InstanceAccessor<&Mapping::GetBuffer>("buffer"),
                        InstanceAccessor<&Mapping::GetAddress>("address"),
                        InstanceAccessor<&Mapping::GetLength>("length"),
                        InstanceAccessor<&Mapping::GetMapped>("mapped"), InstanceMethod<&Mapping::Unmap>("unmap")},
                       me);
  }

  explicit Mapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mapping>(info) {
    Napi::Env env = info.Env();
    auto* me = static_cast<MemEnv*>(info.Data());
    int fd = ArgFd(info, 0, "fd");
    uint64_t offset = ArgUint64(info, 1, "offset");
    uint64_t length = ArgUint64(info, 2, "length");
    int prot = info[3].IsUndefined() ? (PROT_READ | PROT_WRITE) : ArgInt32(info, 3, "prot", 0, 7);
    if (length == 0) ThrowErrno(env, EINVAL, "mmap");
    if (offset > static_cast<uint64_t>(INT64_MAX) || length > (uint64_t{1} << 40)) ThrowErrno(env, EINVAL, "mmap");
    struct stat st;
    if (fstat(fd, &st) != 0) ThrowErrno(env, errno, "fstat");
    if (S_ISREG(st.st_mode) && (offset + length > static_cast<uint64_t>(st.st_size))) {
      ThrowErrno(env, EINVAL, "mmap");
    }
    void* addr = mmap(nullptr, length, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
    if (addr == MAP_FAILED) ThrowErrno(env, errno, "mmap");
    state_ = std::make_shared<MapState>();
    state_->addr = addr;
    state_->length = length;
    state_->mapped = true;
    state_->env = me;
    me->live.insert(state_.get());
    auto* hint = new StateRef(state_);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, addr, length, [](Napi::Env, void*, StateRef* h) { delete h; }, hint);
    buffer_ = Napi::Persistent(ab);
  }

  ~Mapping() override { buffer_.Reset(); }

 private:
  Napi::Value GetBuffer(const Napi::CallbackInfo& info) {
    if (!state_->mapped || buffer_.IsEmpty()) return info.Env().Undefined();
    return buffer_.Value();
  }
  Napi::Value GetAddress(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(state_->addr)));
  }
  Napi::Value GetLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(state_->length));
  }
  Napi::Value GetMapped(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->mapped); }

  /** Detaches the ArrayBuffer (every view of it becomes length 0), then munmap. Idempotent. */
  Napi::Value Unmap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!buffer_.IsEmpty()) {
      Napi::ArrayBuffer ab = buffer_.Value();
      if (napi_detach_arraybuffer(env, ab) != napi_ok) {
        throw Napi::Error::New(env, "Mapping.unmap: the ArrayBuffer cannot be detached; the memory stays mapped");
      }
      buffer_.Reset();
    }
    state_->Unmap();
    return env.Undefined();
  }

  StateRef state_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
};

/**
 * memfdCreate(name, size, hugetlb) -> fd: a sealed, CLOEXEC memfd of `size` bytes (hugetlb: 2 MiB
 * pages, size a multiple of 2 MiB). F_SEAL_SHRINK | F_SEAL_GROW: no one holding the fd can shrink it
 * under another thread's mapping (a page past the end is SIGBUS), or grow it.
 */
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "The \"name\" argument must be a string");
  std::string name = info[0].As<Napi::String>();
  uint64_t size = ArgUint64(info, 1, "size");
  bool hugetlb = info[2].ToBoolean();
  // MFD_HUGE_2MB is 21 << MFD_HUGE_SHIFT (26): the page size's log2 in the flag's top bits.
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (hugetlb ? (MFD_HUGETLB | (21u << 26)) : 0u);
  int fd = memfd_create(name.c_str(), flags);
  if (fd < 0) ThrowErrno(env, errno, "memfd_create");
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "ftruncate");
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "fcntl(F_ADD_SEALS)");
  }
  return Napi::Number::New(env, fd);
}

/** fdSize(fd) -> st_size (a memfd's size, as a worker sees it before mapping). */
Napi::Value FdSize(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  struct stat st;
  if (fstat(fd, &st) != 0) ThrowErrno(info.Env(), errno, "fstat");
  return Napi::Number::New(info.Env(), static_cast<double>(st.st_size));
}

/** The page size (sysconf(_SC_PAGESIZE)). */
Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

/**
 * deviceGetRegionInfoCaps(fd, index): VFIO_DEVICE_GET_REGION_INFO, then again with the argsz the
 * kernel asked for when it has capabilities, and the chain walked: sparse mmap areas, region type,
 * MSI-X mappable. Unknown capability ids are listed in `caps` but not decoded.
 */
Napi::Value DeviceGetRegionInfoCaps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t index = ArgUint32(info, 1, "index");
  std::vector<uint8_t> buf(sizeof(RegionInfo), 0);
  auto* ri = reinterpret_cast<RegionInfo*>(buf.data());
  ri->argsz = sizeof(RegionInfo);
  ri->index = index;
  if (IoctlRetry(fd, kDeviceGetRegionInfo, buf.data()) < 0) ThrowErrno(env, errno, "ioctl(VFIO_DEVICE_GET_REGION_INFO)");
  uint32_t want = ri->argsz;
  if (want > sizeof(RegionInfo) && want <= (1u << 20)) {
    buf.assign(want, 0);
    ri = reinterpret_cast<RegionInfo*>(buf.data());
    ri->argsz = want;
    ri->index = index;
    if (IoctlRetry(fd, kDeviceGetRegionInfo, buf.data()) < 0) ThrowErrno(env, errno, "ioctl(VFIO_DEVICE_GET_REGION_INFO)");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("argsz", ri->argsz);
  out.Set("flags", ri->flags);
  out.Set("index", ri->index);
  out.Set("capOffset", ri->cap_offset);
  out.Set("size", Napi::BigInt::New(env, ri->size));
  out.Set("offset", Napi::BigInt::New(env, ri->offset));
  Napi::Array caps = Napi::Array::New(env);
  out.Set("caps", caps);
  out.Set("msixMappable", false);
  constexpr uint32_t kFlagCaps = 1u << 3;
  if ((ri->flags & kFlagCaps) == 0 || buf.size() <= sizeof(RegionInfo)) return out;
  uint32_t off = ri->cap_offset;
  // Bounded walk: a chain longer than the buffer could hold is malformed.
  for (uint32_t n = 0; off != 0 && n < 64; n++) {
    if (off < sizeof(RegionInfo) || off + sizeof(InfoCapHeader) > buf.size()) break;
    InfoCapHeader hdr;
    std::memcpy(&hdr, buf.data() + off, sizeof hdr);
    Napi::Object c = Napi::Object::New(env);
    c.Set("id", hdr.id);
    c.Set("version", hdr.version);
    caps.Set(caps.Length(), c);
    if (hdr.id == kRegionCapSparseMmap && off + sizeof(RegionCapSparseMmap) <= buf.size()) {
      RegionCapSparseMmap sp;
      std::memcpy(&sp, buf.data() + off, sizeof sp);
      Napi::Array areas = Napi::Array::New(env);
      for (uint32_t i = 0; i < sp.nr_areas; i++) {
        size_t at = off + sizeof sp + i * sizeof(SparseMmapArea);
        if (at + sizeof(SparseMmapArea) > buf.size()) break;
        SparseMmapArea a;
        std::memcpy(&a, buf.data() + at, sizeof a);
        Napi::Object o = Napi::Object::New(env);
        o.Set("offset", Napi::BigInt::New(env, a.offset));
        o.Set("size", Napi::BigInt::New(env, a.size));
        areas.Set(i, o);
      }
      out.Set("sparse", areas);
    } else if (hdr.id == kRegionCapType && off + sizeof(RegionCapType) <= buf.size()) {
      RegionCapType ty;
      std::memcpy(&ty, buf.data() + off, sizeof ty);
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", ty.type);
      o.Set("subtype", ty.subtype);
      out.Set("type", o);
    } else if (hdr.id == kRegionCapMsixMappable) {
      out.Set("msixMappable", true);
    }
    if (hdr.next != 0 && hdr.next <= off) break;  // must move forward
    off = hdr.next;
  }
  return out;
}

}  // namespace

void InitMem(Napi::Env env, Napi::Object exports) {
  auto* me = new MemEnv();
  Napi::Function ctor = Mapping::Define(env, me);
  napi_add_env_cleanup_hook(env, OnMemEnvCleanup, me);
  Napi::Object m = Napi::Object::New(env);
  m.Set("Mapping", ctor);
  m.Set("memfdCreate", Napi::Function::New<MemfdCreate>(env, "memfdCreate"));
  m.Set("fdSize", Napi::Function::New<FdSize>(env, "fdSize"));
  m.Set("pageSize", Napi::Function::New<PageSize>(env, "pageSize"));
  m.Set("deviceGetRegionInfoCaps", Napi::Function::New<DeviceGetRegionInfoCaps>(env, "deviceGetRegionInfoCaps"));
  m.Set("PROT_READ", PROT_READ);
  m.Set("PROT_WRITE", PROT_WRITE);
  exports.Set("mem", m);
}

}  // namespace virq
