// Per-instance (per Node environment: main thread or one worker) state of the addon.
#pragma once

#include <napi.h>

#include <unordered_set>
#include <vector>

#include "counter-ring.h"

namespace virq {

class FdHandle;
class Epoll;

/**
 * One of these exists per environment that loads the addon (napi instance data), so the addon is
 * context-aware: every worker has its own constructors and its own registry of live handles.
 * The registries let the env cleanup hook close every fd a JS object still owns when a worker exits,
 * without waiting for garbage collection (a worker's heap is torn down, not collected).
 */
class VirqAddon : public Napi::Addon<VirqAddon> {
 public:
  VirqAddon(Napi::Env env, Napi::Object exports);
  ~VirqAddon();

  Napi::FunctionReference fd_handle_ctor;
  Napi::FunctionReference epoll_ctor;
  std::unordered_set<FdHandle*> fd_handles;
  std::unordered_set<Epoll*> epolls;

  /**
   * This thread's batched signals (eventfdSignalMany, eventfd.cc): one io_uring for the thread, opened
   * at its first batch of two or more, closed when the environment goes away. `signal_path` is what
   * eventfdSignalPath() reports.
   */
  CounterRing signal_ring;
  enum class SignalPath { kUnopened, kRing, kUnavailable, kDisabled } signal_path = SignalPath::kUnopened;
  std::vector<int> signal_errs;

 private:
  static void OnEnvCleanup(void* arg);
  napi_env env_;
};

/** A JS-visible owner of one file descriptor: closes it on close(), at GC, or when the env goes away. */
class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;
  /** Closes the fd without touching JS (env cleanup, finalizer). */
  void CloseQuietly();

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  int fd_ = -1;
  VirqAddon* addon_;
};

void InitEventfd(Napi::Env env, Napi::Object exports);
void InitEpoll(Napi::Env env, Napi::Object exports, VirqAddon* addon);
void InitVfio(Napi::Env env, Napi::Object exports);
// Device memory (mem.cc) and the IOMMU (iommu.cc).
void InitMem(Napi::Env env, Napi::Object exports);
void InitIommu(Napi::Env env, Napi::Object exports);
/** Adds mem_uapi.h's numbers and layouts to vfio.cc's uapi table (for the layout test). */
void AddMemUapi(Napi::Env env, Napi::Object ioctls, Napi::Object constants, Napi::Object structs);

}  // namespace virq
