// eventfd(2): create, read, write, and the kernel's eventfd_ctx_fdget() check for fds handed in by users.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"
#include "common.h"

namespace virq {
namespace {

// How the kernel names an eventfd's anonymous inode in /proc/<pid>/fd.
constexpr const char kEventfdLink[] = "anon_inode:[eventfd]";

/** 0 if fd is an open eventfd, else EBADF (not open) or EINVAL (another kind of file), as
 *  eventfd_ctx_fdget() answers; any other errno if /proc could not be read. */
int CheckEventfd(int fd) {
  if (fcntl(fd, F_GETFD) < 0) return errno;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  char link[64];
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) return errno == ENOENT ? EBADF : errno;
  link[n] = '\0';
  return std::strcmp(link, kEventfdLink) == 0 ? 0 : EINVAL;
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  uint32_t initval = ArgUint32(info, 0, "initval");
  int flags = EFD_CLOEXEC;
  if (info[1].ToBoolean()) flags |= EFD_SEMAPHORE;
  if (info[2].ToBoolean()) flags |= EFD_NONBLOCK;
  int fd = eventfd(initval, flags);
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  uint64_t value = 0;
  ssize_t n;
  do {
    n = read(fd, &value, sizeof value);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, "eventfd_read");
  if (n != sizeof value) ThrowErrno(info.Env(), EIO, "eventfd_read");
  return Napi::BigInt::New(info.Env(), value);
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  uint64_t value = ArgUint64(info, 1, "value");
  ssize_t n;
  do {
    n = write(fd, &value, sizeof value);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, "eventfd_write");
  if (n != sizeof value) ThrowErrno(info.Env(), EIO, "eventfd_write");
  return info.Env().Undefined();
}

/** write(fd, 1), retried on EINTR: 0, or the errno (EAGAIN: the counter is at its maximum). */
int SignalOne(int fd) {
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  return n == sizeof one ? 0 : EIO;
}

/**
 * eventfdSignalMany(fds, n): eventfd_signal() on each of fds[0..n) — add 1, and a counter at its maximum
 * stays there (EAGAIN ignored, as eventfd_signal saturates). One io_uring_enter for the lot when this
 * thread's ring is usable (counter-ring.h; for O_NONBLOCK eventfds: a blocking one's ring write comes
 * back EAGAIN and is written again with write()), else one write() each. Every fd is signalled before a
 * failure is thrown, so one bad fd does not leave the rest of a batch unsignalled; the first failure's
 * errno is thrown.
 */
Napi::Value SignalMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fds = ArgTypedArray<int32_t>(info, 0, napi_int32_array, "fds", "Int32Array");
  size_t n = info[1].IsUndefined() ? fds.ElementLength() : ArgUint32(info, 1, "n");
  if (n > fds.ElementLength()) ThrowRangeError(env, "eventfdSignalMany: n is larger than fds");
  auto* addon = env.GetInstanceData<VirqAddon>();
  using Path = VirqAddon::SignalPath;
  const int* fd = fds.Data();
  std::vector<int>& errs = addon->signal_errs;
  bool ring = false;
  if (n >= 2 && addon->signal_path == Path::kUnopened) {
    addon->signal_path = addon->signal_ring.Open(256, CounterRing::Op::kWrite) == 0 ? Path::kRing : Path::kUnavailable;
  }
  if (n >= 2 && addon->signal_path == Path::kRing) {
    if (errs.size() < n) errs.resize(n);
    ring = true;
    if (addon->signal_ring.WriteAll(fd, errs.data(), n) != 0) {
      // The ring itself failed (not one write): the -1 entries were not attempted; write() them, and
      // keep to write() on this thread from now on.
      addon->signal_ring.Close();
      addon->signal_path = Path::kUnavailable;
    }
  }
  int first_err = 0;
  int first_fd = -1;
  for (size_t i = 0; i < n; i++) {
    if (ring && errs[i] == 0) continue;
    int err = SignalOne(fd[i]);
    if (err != 0 && err != EAGAIN && first_err == 0) {
      first_err = err;
      first_fd = fd[i];
    }
  }
  if (first_err != 0) {
    std::string what = "eventfd_signal(fd " + std::to_string(first_fd) + ")";
    ThrowErrno(env, first_err, what);
  }
  return env.Undefined();
}

/** eventfdSignalPath(): 'io_uring' | 'write' | 'unopened' — how this thread's next batch is signalled. */
Napi::Value SignalPath(const Napi::CallbackInfo& info) {
  using Path = VirqAddon::SignalPath;
  Path p = info.Env().GetInstanceData<VirqAddon>()->signal_path;
  const char* s = p == Path::kRing ? "io_uring" : p == Path::kUnopened ? "unopened" : "write";
  return Napi::String::New(info.Env(), s);
}

/** eventfdSignalRing(enabled): false closes this thread's ring and signals with write() from now on. */
Napi::Value SignalRing(const Napi::CallbackInfo& info) {
  auto* addon = info.Env().GetInstanceData<VirqAddon>();
  using Path = VirqAddon::SignalPath;
  if (info[0].ToBoolean()) {
    if (addon->signal_path == Path::kDisabled) addon->signal_path = Path::kUnopened;
  } else {
    addon->signal_ring.Close();
    addon->signal_path = Path::kDisabled;
  }
  return info.Env().Undefined();
}

/** A new O_CLOEXEC descriptor for the same eventfd; the caller's fd stays theirs. */
Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  int err = fd < 0 ? EBADF : CheckEventfd(fd);
  if (err != 0) ThrowErrno(info.Env(), err, "eventfd_ctx_fdget");
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) ThrowErrno(info.Env(), errno, "fcntl(F_DUPFD_CLOEXEC)");
  return Napi::Number::New(info.Env(), copy);
}

Napi::Value IsEventfd(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd", true);
  return Napi::Boolean::New(info.Env(), fd >= 0 && CheckEventfd(fd) == 0);
}

Napi::Value IsNonblocking(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) ThrowErrno(info.Env(), errno, "fcntl(F_GETFL)");
  return Napi::Boolean::New(info.Env(), (fl & O_NONBLOCK) != 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int err = CloseFd(fd);
  if (err != 0) ThrowErrno(info.Env(), err, "close");
  return info.Env().Undefined();
}

/** pipe2(O_CLOEXEC [| O_NONBLOCK]) -> [readFd, writeFd]: a non-eventfd to test epoll's HUP/ERR reports with. */
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | (info[0].ToBoolean() ? O_NONBLOCK : 0)) < 0) ThrowErrno(info.Env(), errno, "pipe2");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), fds[0]));
  out.Set(1u, Napi::Number::New(info.Env(), fds[1]));
  return out;
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdCreate", Napi::Function::New<Create>(env, "eventfdCreate"));
  exports.Set("eventfdRead", Napi::Function::New<Read>(env, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New<Write>(env, "eventfdWrite"));
  exports.Set("eventfdSignalMany", Napi::Function::New<SignalMany>(env, "eventfdSignalMany"));
  exports.Set("eventfdSignalPath", Napi::Function::New<SignalPath>(env, "eventfdSignalPath"));
  exports.Set("eventfdSignalRing", Napi::Function::New<SignalRing>(env, "eventfdSignalRing"));
  exports.Set("eventfdDup", Napi::Function::New<Dup>(env, "eventfdDup"));
  exports.Set("isEventfd", Napi::Function::New<IsEventfd>(env, "isEventfd"));
  exports.Set("isNonblocking", Napi::Function::New<IsNonblocking>(env, "isNonblocking"));
  exports.Set("pipe", Napi::Function::New<Pipe>(env, "pipe"));
  exports.Set("closeFd", Napi::Function::New<Close>(env, "closeFd"));
}

}  // namespace virq
