#include "epoll.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common.h"

namespace virq {

// epoll_data.u64 of every entry: bit 63 = "is an eventfd, read it when draining", bits 32..62 = fd,
// bits 0..31 = the caller's tag. Keeping the fd in the entry lets the drain read the counter without a
// lookup table that a concurrent add/remove would have to lock.
namespace {

constexpr uint64_t kEventfdBit = uint64_t{1} << 63;
constexpr int32_t kWakeTag = -1;
constexpr int kMaxEventsPerCall = 1 << 16;

uint64_t PackData(int fd, int32_t tag, bool is_eventfd) {
  return (is_eventfd ? kEventfdBit : 0) | (static_cast<uint64_t>(static_cast<uint32_t>(fd)) << 32) |
         static_cast<uint32_t>(tag);
}
int DataFd(uint64_t data) { return static_cast<int>((data >> 32) & 0x7fffffff); }
int32_t DataTag(uint64_t data) { return static_cast<int32_t>(static_cast<uint32_t>(data)); }
bool DataIsEventfd(uint64_t data) { return (data & kEventfdBit) != 0; }

bool FdIsEventfd(int fd) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  char link[64];
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) return false;
  link[n] = '\0';
  return std::strcmp(link, "anon_inode:[eventfd]") == 0;
}

// Kernels before 5.12 cannot do RWF_NOWAIT on an eventfd; fall back to read() there once and for all.
std::atomic<bool> g_nowait_supported{true};

/**
 * Reads an eventfd's counter without ever blocking, whatever O_NONBLOCK says: epoll said "readable",
 * but another reader (a second epoll set, a user's read()) may have emptied it since. Returns 0 and
 * sets *value, or an errno (EAGAIN when it was emptied in between).
 */
int ReadCounterNowait(int fd, uint64_t* value) {
  struct iovec iov = {value, sizeof *value};
  for (;;) {
    ssize_t n;
    if (g_nowait_supported.load(std::memory_order_relaxed)) {
      n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
      if (n < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        g_nowait_supported.store(false, std::memory_order_relaxed);
        continue;
      }
    } else {
      n = read(fd, value, sizeof *value);
    }
    if (n == sizeof *value) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno : EIO;
  }
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int ArgTimeout(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined()) return -1;
  return ArgInt32(info, i, "timeoutMs", -1, INT32_MAX);
}


}  // namespace

/** One uv_poll_t on the epoll fd. Heap-allocated apart from the Epoll: it must outlive a finalized
 *  Epoll until libuv's close callback, and frees itself there. */
struct WatchHandle {
  uv_poll_t poll;
  Epoll* owner;
  napi_env env;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool closing = false;

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* w = static_cast<WatchHandle*>(handle->data);
    if (w->closing || w->owner == nullptr) return;
    w->owner->OnReadable(w, status);
  }

  static void OnClosed(uv_handle_t* handle) {
    auto* w = static_cast<WatchHandle*>(handle->data);
    // Unregisters the teardown hook, or, if the environment is being torn down, tells Node that
    // this hook's asynchronous cleanup is complete.
    if (w->hook != nullptr) napi_remove_async_cleanup_hook(w->hook);
    delete w;
  }

  /** Environment teardown (worker exit): libuv handles must be closed before the loop is. */
  static void OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
    auto* w = static_cast<WatchHandle*>(arg);
    if (w->closing) return;  // already closing: OnClosed will report completion
    if (w->owner != nullptr) w->owner->ForgetWatch();
    w->owner = nullptr;
    w->Close();
  }

  void Close() {
    closing = true;
    uv_poll_stop(&poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), OnClosed);
  }
};

Napi::Function Epoll::Define(Napi::Env env) {
  return DefineClass(env, "Epoll",
                     {
                         InstanceAccessor<&Epoll::GetFd>("fd"),
                         InstanceAccessor<&Epoll::GetWakeFd>("wakeFd"),
                         InstanceAccessor<&Epoll::GetWatching>("watching"),
                         InstanceAccessor<&Epoll::GetReadPath>("readPath"),
                         InstanceMethod<&Epoll::Add>("add"),
                         InstanceMethod<&Epoll::Modify>("modify"),
                         InstanceMethod<&Epoll::Remove>("remove"),
                         InstanceMethod<&Epoll::Wait>("wait"),
                         InstanceMethod<&Epoll::Drain>("drain"),
                         InstanceMethod<&Epoll::Wake>("wake"),
                         InstanceMethod<&Epoll::Watch>("watch"),
                         InstanceMethod<&Epoll::Unwatch>("unwatch"),
                         InstanceMethod<&Epoll::Close>("close"),
                     });
}

Epoll::Epoll(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Epoll>(info) {
  addon_ = info.Env().GetInstanceData<VirqAddon>();
  if (info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value()) ring_state_ = RingState::kDisabled;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) ThrowErrno(info.Env(), errno, "epoll_create1");
  if (info[0].IsUndefined() || info[0].IsNull()) {
    wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakefd_ < 0) {
      int err = errno;
      CloseQuietly();
      ThrowErrno(info.Env(), err, "eventfd");
    }
  } else {
    // Adopt a duplicate of a caller's eventfd as the wake fd: whoever holds the original can wake this
    // set from any thread or process, and never writes to a recycled fd number after we close.
    int fd = ArgFd(info, 0, "wakeFd");
    int err = FdIsEventfd(fd) ? 0 : (fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL);
    if (err == 0) {
      wakefd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (wakefd_ < 0) err = errno;
    }
    if (err != 0) {
      CloseQuietly();
      ThrowErrno(info.Env(), err, "eventfd_ctx_fdget");
    }
  }
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = PackData(wakefd_, kWakeTag, true);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
    int err = errno;
    CloseQuietly();
    ThrowErrno(info.Env(), err, "epoll_ctl");
  }
  addon_->epolls.insert(this);
}

Epoll::~Epoll() {
  StopWatch(false);
  // Finalizers must not call into JS; the async context is reclaimed with the environment.
  if (watch_ctx_) (void)watch_ctx_.release();
  CloseQuietly();
  addon_->epolls.erase(this);
}

void Epoll::CloseQuietly() {
  StopWatch(false);
  CloseDups();
  ring_.Close();
  CloseFd(epfd_);
  CloseFd(wakefd_);
  epfd_ = -1;
  wakefd_ = -1;
}

void Epoll::StopWatch(bool js_ok) {
  if (watch_ != nullptr) {
    WatchHandle* w = watch_;
    watch_ = nullptr;
    w->owner = nullptr;
    w->Close();
  }
  if (!js_ok) return;
  watch_cb_.Reset();
  watch_tags_.Reset();
  watch_counts_.Reset();
  watch_events_.Reset();
  watch_ctx_.reset();
  if (self_ref_) {
    self_ref_ = false;
    Unref();
  }
}

Napi::Value Epoll::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), epfd_); }
Napi::Value Epoll::GetWakeFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), wakefd_); }
Napi::Value Epoll::GetWatching(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), watch_ != nullptr);
}
Napi::Value Epoll::GetReadPath(const Napi::CallbackInfo& info) {
  const char* path = ring_state_ == RingState::kOpen       ? "io_uring"
                     : ring_state_ == RingState::kUnopened ? "unopened"
                                                           : "read";
  return Napi::String::New(info.Env(), path);
}

void Epoll::Control(const Napi::CallbackInfo& info, int op, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct epoll_event ev = {};
  int32_t tag = 0;
  if (op != EPOLL_CTL_DEL) {
    tag = ArgInt32(info, 1, "tag", 0, INT32_MAX);
    ev.events = info[2].IsUndefined() ? EPOLLIN : ArgUint32(info, 2, "events");
  }
  if (epfd_ < 0) ThrowErrno(env, EBADF, syscall);
  // The wake eventfd belongs to the set itself: to the caller it is always present and never theirs.
  if (fd == wakefd_) ThrowErrno(env, op == EPOLL_CTL_ADD ? EEXIST : ENOENT, syscall);

  auto known = eventfd_dups_.find(fd);
  if (op == EPOLL_CTL_ADD) {
    if (known != eventfd_dups_.end()) ThrowErrno(env, EEXIST, syscall);
    if (!FdIsEventfd(fd)) {
      ev.data.u64 = PackData(fd, tag, false);
      if (epoll_ctl(epfd_, op, fd, &ev) < 0) ThrowErrno(env, errno, syscall);
      return;
    }
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) ThrowErrno(env, errno, syscall);
    ev.data.u64 = PackData(dup, tag, true);
    if (epoll_ctl(epfd_, op, dup, &ev) < 0) {
      int err = errno;
      CloseFd(dup);
      ThrowErrno(env, err, syscall);
    }
    eventfd_dups_.emplace(fd, dup);
    return;
  }
  if (known == eventfd_dups_.end()) {
    ev.data.u64 = PackData(fd, tag, false);
    if (epoll_ctl(epfd_, op, fd, &ev) < 0) ThrowErrno(env, errno, syscall);
    return;
  }
  int dup = known->second;
  ev.data.u64 = PackData(dup, tag, true);
  if (epoll_ctl(epfd_, op, dup, &ev) < 0) ThrowErrno(env, errno, syscall);
  if (op == EPOLL_CTL_DEL) {
    eventfd_dups_.erase(known);
    CloseFd(dup);
  }
}

Napi::Value Epoll::Add(const Napi::CallbackInfo& info) {
  Control(info, EPOLL_CTL_ADD, "epoll_ctl(EPOLL_CTL_ADD)");
  return info.Env().Undefined();
}
Napi::Value Epoll::Modify(const Napi::CallbackInfo& info) {
  Control(info, EPOLL_CTL_MOD, "epoll_ctl(EPOLL_CTL_MOD)");
  return info.Env().Undefined();
}
Napi::Value Epoll::Remove(const Napi::CallbackInfo& info) {
  Control(info, EPOLL_CTL_DEL, "epoll_ctl(EPOLL_CTL_DEL)");
  return info.Env().Undefined();
}

int Epoll::WaitRaw(int max, int timeout_ms) {
  if (epfd_ < 0) return -EBADF;
  if (events_.size() < static_cast<size_t>(max)) events_.resize(max);
  int64_t deadline = timeout_ms > 0 ? NowMs() + timeout_ms : 0;
  for (;;) {
    // No JS runs and no lock is held here: other threads and isolates are unaffected while we sleep.
    int n = epoll_wait(epfd_, events_.data(), max, timeout_ms);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
    if (timeout_ms > 0) {
      int64_t left = deadline - NowMs();
      timeout_ms = left > 0 ? static_cast<int>(left) : 0;
    }
  }
}

Napi::Value Epoll::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int max = ArgInt32(info, 0, "maxEvents", 1, kMaxEventsPerCall);
  int timeout = ArgTimeout(info, 1);
  int n = WaitRaw(max, timeout);
  if (n < 0) ThrowErrno(env, -n, "epoll_wait");
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    uint64_t data = events_[i].data.u64;
    int32_t tag = DataTag(data);
    if (tag == kWakeTag) {
      // Consume the wake so that it ends exactly one wait; a later wake() makes a new one.
      uint64_t ignored;
      ReadCounterNowait(wakefd_, &ignored);
    }
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("tag", Napi::Number::New(env, tag));
    ev.Set("events", Napi::Number::New(env, events_[i].events));
    out.Set(static_cast<uint32_t>(i), ev);
  }
  return out;
}

void Epoll::ReadCounters(size_t n) {
  // One counter gains nothing from a ring (an enter costs what a read costs), and a set that only
  // ever sees one ready fd at a time should not pay for one.
  if (n >= 2 && ring_state_ == RingState::kUnopened && epfd_ >= 0) {
    ring_state_ = ring_.Open(256) == 0 ? RingState::kOpen : RingState::kUnavailable;
  }
  if (n >= 2 && ring_state_ == RingState::kOpen) {
    if (ring_.ReadAll(read_fds_.data(), read_values_.data(), read_errs_.data(), n) != 0) {
      // The ring failed as a whole (not one read): entries it did not read are -1 and read below;
      // every later drain reads with read().
      ring_.Close();
      ring_state_ = RingState::kUnavailable;
    }
  } else {
    for (size_t i = 0; i < n; i++) read_errs_[i] = -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (read_errs_[i] == -1) read_errs_[i] = ReadCounterNowait(read_fds_[i], &read_values_[i]);
  }
}

int Epoll::DrainInto(Napi::Env env, int32_t* tags, uint64_t* counts, uint32_t* events, size_t cap,
                     int timeout_ms) {
  int max = cap > static_cast<size_t>(kMaxEventsPerCall) ? kMaxEventsPerCall : static_cast<int>(cap);
  int n = WaitRaw(max, timeout_ms);
  if (n < 0) ThrowErrno(env, -n, "epoll_wait");
  if (read_fds_.size() < static_cast<size_t>(n)) {
    read_fds_.resize(n);
    read_values_.resize(n);
    read_errs_.resize(n);
    read_at_.resize(n);
  }
  uint32_t* masks = events;
  if (masks == nullptr) {
    if (masks_.size() < static_cast<size_t>(n)) masks_.resize(n);
    masks = masks_.data();
  }
  // Pass 1: one output entry per ready fd, and the list of counters to read.
  size_t reads = 0;
  for (int i = 0; i < n; i++) {
    uint64_t data = events_[i].data.u64;
    tags[i] = DataTag(data);
    counts[i] = 0;
    masks[i] = events_[i].events;
    if (DataIsEventfd(data) && (masks[i] & EPOLLIN) != 0) {
      read_fds_[reads] = DataFd(data);
      read_at_[reads] = i;
      reads++;
    }
  }
  if (reads == 0) return n;
  // Pass 2: read them all (one io_uring_enter, or one read() each).
  ReadCounters(reads);
  bool dropped = false;
  for (size_t r = 0; r < reads; r++) {
    int i = read_at_[r];
    int err = read_errs_[r];
    if (err == 0) {
      counts[i] = read_values_[r];
    } else if (err == EAGAIN) {
      // Emptied by another reader since epoll_wait: nothing to deliver unless something else happened.
      if ((masks[i] & ~static_cast<uint32_t>(EPOLLIN)) == 0) {
        masks[i] = 0;
        dropped = true;
      }
    } else {
      masks[i] |= EPOLLERR;
    }
  }
  if (!dropped) return n;
  // Pass 3: close the gaps the emptied entries left (a mask of 0 is never a ready entry's).
  int out = 0;
  for (int i = 0; i < n; i++) {
    if (masks[i] == 0) continue;
    tags[out] = tags[i];
    counts[out] = counts[i];
    masks[out] = masks[i];
    out++;
  }
  return out;
}

Napi::Value Epoll::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto tags = ArgTypedArray<int32_t>(info, 0, napi_int32_array, "tags", "Int32Array");
  auto counts = ArgTypedArray<uint64_t>(info, 1, napi_biguint64_array, "counts", "BigUint64Array");
  int timeout = ArgTimeout(info, 2);
  size_t cap = std::min(tags.ElementLength(), counts.ElementLength());
  uint32_t* events = nullptr;
  if (!info[3].IsUndefined()) {
    auto ev = ArgTypedArray<uint32_t>(info, 3, napi_uint32_array, "events", "Uint32Array");
    cap = std::min(cap, ev.ElementLength());
    events = ev.Data();
  }
  if (cap == 0) ThrowRangeError(env, "drain needs buffers with room for at least one (tag, count) pair");
  int n = DrainInto(env, tags.Data(), counts.Data(), events, cap, timeout);
  return Napi::Number::New(env, n);
}

Napi::Value Epoll::Wake(const Napi::CallbackInfo& info) {
  uint64_t one = 1;
  if (write(wakefd_, &one, sizeof one) < 0) {
    // EAGAIN means the wake counter is at its ceiling: a wake is already pending, which is all we want.
    if (errno != EAGAIN) ThrowErrno(info.Env(), errno, "eventfd_write");
  }
  return info.Env().Undefined();
}

Napi::Value Epoll::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto tags = ArgTypedArray<int32_t>(info, 0, napi_int32_array, "tags", "Int32Array");
  auto counts = ArgTypedArray<uint64_t>(info, 1, napi_biguint64_array, "counts", "BigUint64Array");
  if (!info[2].IsFunction()) ThrowTypeError(env, "The \"callback\" argument must be a function");
  size_t cap = std::min(tags.ElementLength(), counts.ElementLength());
  bool have_events = !info[3].IsUndefined();
  if (have_events) {
    auto ev = ArgTypedArray<uint32_t>(info, 3, napi_uint32_array, "events", "Uint32Array");
    cap = std::min(cap, ev.ElementLength());
    watch_events_ = Napi::Persistent(ev);
  } else {
    watch_events_.Reset();
  }
  if (cap == 0) ThrowRangeError(env, "watch needs buffers with room for at least one (tag, count) pair");
  if (epfd_ < 0) ThrowErrno(env, EBADF, "uv_poll_start");
  watch_tags_ = Napi::Persistent(tags);
  watch_counts_ = Napi::Persistent(counts);
  watch_cb_ = Napi::Persistent(info[2].As<Napi::Function>());
  if (!watch_ctx_) watch_ctx_ = std::make_unique<Napi::AsyncContext>(env, "virq.Epoll.watch");
  if (watch_ != nullptr) return env.Undefined();  // already watching: new buffers and callback apply

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ThrowErrno(env, ENOSYS, "napi_get_uv_event_loop");
  }
  auto* w = new WatchHandle();
  w->owner = this;
  w->env = env;
  int r = uv_poll_init(loop, &w->poll, epfd_);
  if (r < 0) {
    delete w;
    ThrowErrno(env, -r, "uv_poll_init");
  }
  w->poll.data = w;
  if (napi_add_async_cleanup_hook(env, WatchHandle::OnEnvTeardown, w, &w->hook) != napi_ok) w->hook = nullptr;
  r = uv_poll_start(&w->poll, UV_READABLE, WatchHandle::OnPoll);
  if (r < 0) {
    w->owner = nullptr;
    w->Close();
    ThrowErrno(env, -r, "uv_poll_start");
  }
  watch_ = w;
  // While watching, the set must not be collected out from under its callback (the uv handle keeps
  // the loop alive, like any active Node handle).
  if (!self_ref_) {
    self_ref_ = true;
    Ref();
  }
  return env.Undefined();
}

void Epoll::OnReadable(WatchHandle* w, int status) {
  napi_env env = w->env;
  Napi::HandleScope scope(env);
  int n = 0;
  try {
    if (status < 0) ThrowErrno(env, -status, "uv_poll");
    auto tags = watch_tags_.Value();
    auto counts = watch_counts_.Value();
    size_t cap = std::min(tags.ElementLength(), counts.ElementLength());
    uint32_t* events = nullptr;
    if (!watch_events_.IsEmpty()) {
      auto ev = watch_events_.Value();
      cap = std::min(cap, ev.ElementLength());
      events = ev.Data();
    }
    if (cap == 0) {
      // Level-triggered readiness that nobody drains would spin the loop: stop rather than burn a core.
      StopWatch(true);
      throw Napi::Error::New(env, "Epoll.watch: the tags/counts buffers were detached; watch stopped");
    }
    n = DrainInto(env, tags.Data(), counts.Data(), events, cap, 0);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
    return;
  }
  if (n == 0) return;
  // The C API, not Napi's wrapper: when the callback throws, or ends the thread (process.exit() in a
  // worker terminates its isolate), there must be no attempt to build a C++ exception from it.
  napi_value argv[1];
  napi_value result;
  napi_create_uint32(env, static_cast<uint32_t>(n), &argv[0]);
  napi_value recv = Value();
  napi_value fn = watch_cb_.Value();
  napi_async_context ctx = *watch_ctx_;
  if (napi_make_callback(env, ctx, recv, fn, 1, argv, &result) == napi_ok) return;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

Napi::Value Epoll::Unwatch(const Napi::CallbackInfo& info) {
  StopWatch(true);
  return info.Env().Undefined();
}

void Epoll::CloseDups() {
  for (const auto& entry : eventfd_dups_) CloseFd(entry.second);
  eventfd_dups_.clear();
}

Napi::Value Epoll::Close(const Napi::CallbackInfo& info) {
  StopWatch(true);
  CloseDups();
  ring_.Close();
  int err = CloseFd(epfd_);
  int err2 = CloseFd(wakefd_);
  epfd_ = -1;
  wakefd_ = -1;
  if (err != 0 || err2 != 0) ThrowErrno(info.Env(), err != 0 ? err : err2, "close");
  return info.Env().Undefined();
}

void InitEpoll(Napi::Env env, Napi::Object exports, VirqAddon* addon) {
  Napi::Function ctor = Epoll::Define(env);
  addon->epoll_ctor = Napi::Persistent(ctor);
  exports.Set("Epoll", ctor);
  exports.Set("WAKE_TAG", Napi::Number::New(env, kWakeTag));
}

}  // namespace virq
