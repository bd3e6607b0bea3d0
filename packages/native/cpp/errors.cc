#include <cerrno>
#include <cmath>
#include <cstring>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common.h"

namespace virq {

const char* ErrnoName(int err) {
  switch (err) {
#define VIRQ_ERRNO(e) \
  case e:             \
    return #e;
    VIRQ_ERRNO(EPERM)
    VIRQ_ERRNO(ENOENT)
    VIRQ_ERRNO(ESRCH)
    VIRQ_ERRNO(EINTR)
    VIRQ_ERRNO(EIO)
    VIRQ_ERRNO(ENXIO)
    VIRQ_ERRNO(E2BIG)
    VIRQ_ERRNO(ENOEXEC)
    VIRQ_ERRNO(EBADF)
    VIRQ_ERRNO(ECHILD)
    VIRQ_ERRNO(EAGAIN)
    VIRQ_ERRNO(ENOMEM)
    VIRQ_ERRNO(EACCES)
    VIRQ_ERRNO(EFAULT)
    VIRQ_ERRNO(EBUSY)
    VIRQ_ERRNO(EEXIST)
    VIRQ_ERRNO(EXDEV)
    VIRQ_ERRNO(ENODEV)
    VIRQ_ERRNO(ENOTDIR)
    VIRQ_ERRNO(EISDIR)
    VIRQ_ERRNO(EINVAL)
    VIRQ_ERRNO(ENFILE)
    VIRQ_ERRNO(EMFILE)
    VIRQ_ERRNO(ENOTTY)
    VIRQ_ERRNO(EFBIG)
    VIRQ_ERRNO(ENOSPC)
    VIRQ_ERRNO(ESPIPE)
    VIRQ_ERRNO(EROFS)
    VIRQ_ERRNO(EPIPE)
    VIRQ_ERRNO(ERANGE)
    VIRQ_ERRNO(EDEADLK)
    VIRQ_ERRNO(ENAMETOOLONG)
    VIRQ_ERRNO(ENOSYS)
    VIRQ_ERRNO(ELOOP)
    VIRQ_ERRNO(EOVERFLOW)
    VIRQ_ERRNO(EOPNOTSUPP)
    VIRQ_ERRNO(ETIMEDOUT)
    VIRQ_ERRNO(ECANCELED)
    VIRQ_ERRNO(EHWPOISON)
#undef VIRQ_ERRNO
    default:
      return nullptr;
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const char* path) {
  const char* name = ErrnoName(err);
  std::string code = name != nullptr ? name : ("E" + std::to_string(err));
  // strerror's text, lower-cased first letter, as libuv words it: "EINVAL: invalid argument, epoll_ctl".
  std::string desc = std::strerror(err);
  if (!desc.empty()) desc[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(desc[0])));
  std::string message = code + ": " + desc + ", " + syscall;
  if (path != nullptr) message += std::string(" '") + path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, path));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const char* path) {
  throw ErrnoError(env, err, syscall, path);
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw error;
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw error;
}

static double ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d) {
    ThrowRangeError(info.Env(), std::string("The \"") + name + "\" argument must be an integer");
  }
  return d;
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name, bool allow_minus_one) {
  double d = ArgInteger(info, i, name);
  if (d < (allow_minus_one ? -1 : 0) || d > INT32_MAX) {
    ThrowRangeError(info.Env(), std::string("The \"") + name + "\" argument must be a file descriptor (an integer >= " +
                                    (allow_minus_one ? "-1" : "0") + ")");
  }
  return static_cast<int>(d);
}

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  double d = ArgInteger(info, i, name);
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRangeError(info.Env(), std::string("The \"") + name + "\" argument must be >= " + std::to_string(min) +
                                    " and <= " + std::to_string(max));
  }
  return static_cast<int32_t>(d);
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = ArgInteger(info, i, name);
  if (d < 0 || d > UINT32_MAX) {
    ThrowRangeError(info.Env(), std::string("The \"") + name + "\" argument must be >= 0 and <= 4294967295");
  }
  return static_cast<uint32_t>(d);
}

uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t value = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      ThrowRangeError(info.Env(), std::string("The \"") + name + "\" argument must be >= 0n and <= 2n ** 64n - 1n");
    }
    return value;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::trunc(d) != d || d < 0 || d > 9007199254740991.0) {
      ThrowRangeError(info.Env(), std::string("The \"") + name +
                                      "\" argument must be a non-negative safe integer (use a bigint above 2 ** 53)");
    }
    return static_cast<uint64_t>(d);
  }
  ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a bigint or a number");
}

int IoctlRetry(int fd, unsigned long request, void* arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

int IoctlOrThrow(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int r = IoctlRetry(fd, request, arg);
  if (r < 0) ThrowErrno(env, errno, std::string("ioctl(") + name + ")");
  return r;
}

int IoctlValue(Napi::Env env, int fd, unsigned long request, unsigned long value, const char* name) {
  int r;
  do {
    r = ioctl(fd, request, value);
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, std::string("ioctl(") + name + ")");
  return r;
}

int CloseFd(int fd) {
  if (fd < 0) return 0;
  // Never retry on EINTR: Linux has already released the descriptor, and a retry could close an fd
  // another thread opened in between.
  if (close(fd) == 0 || errno == EINTR) return 0;
  return errno;
}

}  // namespace virq
