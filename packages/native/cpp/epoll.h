// An epoll set whose entries carry an int32 tag, with a built-in wake eventfd, a blocking wait for
// worker threads, a batched drain that reads every ready eventfd, and a libuv watch for the main thread.
#pragma once

#include <napi.h>
#include <sys/epoll.h>
#include <uv.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "addon.h"
#include "counter-ring.h"

namespace virq {

struct WatchHandle;

class Epoll : public Napi::ObjectWrap<Epoll> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Epoll(const Napi::CallbackInfo& info);
  ~Epoll() override;

  /** Stops any watch and closes both fds without calling into JS (env cleanup, finalizer). */
  void CloseQuietly();
  /** Called by the env-teardown hook of a watch: forget the handle, which closes itself. */
  void ForgetWatch() { watch_ = nullptr; }

  /** The libuv callback: drain into the watch buffers and call the JS callback once. */
  void OnReadable(WatchHandle* w, int status);

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetWakeFd(const Napi::CallbackInfo& info);
  Napi::Value GetWatching(const Napi::CallbackInfo& info);
  Napi::Value GetReadPath(const Napi::CallbackInfo& info);
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Modify(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Wake(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value Unwatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Control(const Napi::CallbackInfo& info, int op, const char* syscall);
  /** epoll_wait into events_, retrying EINTR against the original deadline; returns the count or -errno. */
  int WaitRaw(int max, int timeout_ms);
  /** Waits, then turns every ready entry into a (tag, count, events) triple; returns how many. */
  int DrainInto(Napi::Env env, int32_t* tags, uint64_t* counts, uint32_t* events, size_t cap, int timeout_ms);
  /** Stops the uv handle (it frees itself once closed); releases JS references only if js_ok. */
  void StopWatch(bool js_ok);
  void CloseDups();
  /** Reads the counters of read_fds_[0..n) into read_values_/read_errs_ (0 or an errno), in one
   *  io_uring_enter when the ring is usable, else one read() each. */
  void ReadCounters(size_t n);

  int epfd_ = -1;
  int wakefd_ = -1;
  // Caller's fd number -> the set's own O_CLOEXEC duplicate, for every eventfd entry. The entry is
  // registered (and read) through the duplicate, so a caller closing or recycling its number can never
  // make a drain read another file, and remove() still works after the caller closed its fd.
  std::unordered_map<int, int> eventfd_dups_;
  std::vector<epoll_event> events_;

  // The drain's batched counter reads (counter-ring.h). Opened at the first drain that has two or more
  // counters to read, so a set that is only ever waited on costs no ring; kDisabled by the caller
  // (`ioUring: false`), kUnavailable once Open or a read through it failed.
  enum class RingState { kUnopened, kOpen, kUnavailable, kDisabled };
  RingState ring_state_ = RingState::kUnopened;
  CounterRing ring_;
  std::vector<int> read_fds_;
  std::vector<uint64_t> read_values_;
  std::vector<int> read_errs_;
  std::vector<int> read_at_;       // the drain output entry each read belongs to
  std::vector<uint32_t> masks_;    // the drain's event masks when the caller passed no events array
  VirqAddon* addon_;

  WatchHandle* watch_ = nullptr;
  bool self_ref_ = false;
  Napi::FunctionReference watch_cb_;
  Napi::Reference<Napi::TypedArrayOf<int32_t>> watch_tags_;
  Napi::Reference<Napi::TypedArrayOf<uint64_t>> watch_counts_;
  Napi::Reference<Napi::TypedArrayOf<uint32_t>> watch_events_;
  std::unique_ptr<Napi::AsyncContext> watch_ctx_;
};

}  // namespace virq
