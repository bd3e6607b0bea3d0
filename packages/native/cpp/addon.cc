#include "addon.h"

#include <cerrno>

#include "common.h"
#include "epoll.h"

namespace virq {

VirqAddon::VirqAddon(Napi::Env env, Napi::Object exports) : env_(env) {
  Napi::Function fd_handle = FdHandle::Define(env);
  fd_handle_ctor = Napi::Persistent(fd_handle);
  exports.Set("FdHandle", fd_handle);
  InitEventfd(env, exports);
  InitEpoll(env, exports, this);
  InitVfio(env, exports);
  InitMem(env, exports);
  InitIommu(env, exports);
  // Registered after napi's own teardown hook, so it runs before napi finalizes the remaining objects
  // (cleanup hooks run in reverse order of registration).
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
}

VirqAddon::~VirqAddon() { napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this); }

void VirqAddon::OnEnvCleanup(void* arg) {
  auto* self = static_cast<VirqAddon*>(arg);
  for (FdHandle* h : self->fd_handles) h->CloseQuietly();
  for (Epoll* e : self->epolls) e->CloseQuietly();
  self->signal_ring.Close();
}

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {InstanceAccessor<&FdHandle::GetFd>("fd"), InstanceMethod<&FdHandle::Close>("close")});
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  addon_ = info.Env().GetInstanceData<VirqAddon>();
  fd_ = ArgFd(info, 0, "fd");
  addon_->fd_handles.insert(this);
}

FdHandle::~FdHandle() {
  CloseQuietly();
  addon_->fd_handles.erase(this);
}

void FdHandle::CloseQuietly() {
  CloseFd(fd_);
  fd_ = -1;
}

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  int fd = fd_;
  fd_ = -1;
  int err = CloseFd(fd);
  if (err != 0) ThrowErrno(info.Env(), err, "close");
  return info.Env().Undefined();
}

}  // namespace virq

using VirqAddon = virq::VirqAddon;
NODE_API_ADDON(VirqAddon)
