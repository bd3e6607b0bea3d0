// Shared helpers: Node-style errno errors and strict argument conversion.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace virq {

/** "EINVAL" for EINVAL, ... ; "Unknown system error N" style fallback is never needed by callers. */
const char* ErrnoName(int err);

/**
 * An Error shaped like Node's own system errors: message "EINVAL: invalid argument, epoll_ctl",
 * code 'EINVAL', errno -22 (negative, as libuv and Node report it), syscall, and path when given.
 */
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const char* path = nullptr);

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const char* path = nullptr);
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);

/** A file descriptor argument: an integer 0..INT32_MAX (or -1 where allow_minus_one). */
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name, bool allow_minus_one = false);
int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name);
/** bigint in [0, 2^64-1] or a number that is a non-negative safe integer. */
uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name);

/** A typed array argument of exactly `type` (TypeError naming `type_name` otherwise). */
template <typename T>
Napi::TypedArrayOf<T> ArgTypedArray(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type,
                                    const char* name, const char* type_name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a " + type_name);
  }
  return v.As<Napi::TypedArrayOf<T>>();
}

/** ioctl(2) with EINTR retried; returns what ioctl returned (errno set on -1). */
int IoctlRetry(int fd, unsigned long request, void* arg);
/**
 * ioctl(2) with EINTR retried, throwing a Node-style errno error whose syscall names the ioctl
 * ("ioctl(VFIO_DEVICE_SET_IRQS)") on failure. IoctlValue passes an integer argument instead of a pointer.
 */
int IoctlOrThrow(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);
int IoctlValue(Napi::Env env, int fd, unsigned long request, unsigned long value, const char* name);

/** close(2) that retries nothing: Linux releases the fd even when close reports EINTR. */
int CloseFd(int fd);

}  // namespace virq
