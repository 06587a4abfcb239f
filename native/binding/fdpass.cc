// N-API wrappers of sendmsg/recvmsg (native/posix/fdpass.cc): fds passed
// over UNIX sockets (SCM_RIGHTS), and addresses for unconnected datagram
// sockets (sendto/recvfrom). `nowait` serves the promise API: a call that
// would have to wait returns -1 (send) or null (recv) instead.
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "binding.h"

namespace wtf::binding {

namespace {
std::vector<int> fds_arg(const CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray())
    type_error(env, "The \"fds\" argument must be an array of fds");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(kMaxPassedFds))
    range_error(env, "The \"fds\" argument holds more than 253 fds (SCM_MAX_FD)");
  std::vector<int> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<int>(d))
      range_error(env, "The \"fds\" argument holds something that is not a fd");
    out.push_back(static_cast<int>(d));
  }
  return out;
}
}  // namespace

// (fd, data, fds, address | null, flags, timeoutMs, nowait) => bytes sent,
// or -1 when nowait and it would have to wait.
Value SendMsg(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info);
  Napi::Uint8Array data = bytes_arg(info, 1);
  std::vector<int> fds = fds_arg(info, 2);
  bool has_to = info.Length() > 3 && info[3].IsObject();
  Addr to;
  if (has_to) to = addr_arg(info, 3);
  int flags = flags_arg(info, 4, "flags", MSG_MORE | MSG_DONTWAIT);
  Wait w = wait_arg(info, 5);
  bool nowait = info.Length() > 6 && info[6].ToBoolean();
  ssize_t n = sys_sendmsg(fd, data.ByteLength() ? data.Data() : nullptr, data.ByteLength(), fds.data(),
                          static_cast<int>(fds.size()), has_to ? &to : nullptr, flags & ~MSG_DONTWAIT,
                          nowait || (flags & MSG_DONTWAIT) ? nullptr : &w);
  if (n == -EAGAIN && nowait) return Napi::Number::New(env, -1);
  check(env, n, has_to ? "sendto" : "sendmsg", after_wait(fd, w, has_to ? &to : nullptr));
  return Napi::Number::New(env, static_cast<double>(n));
}

// (fd, maxBytes, maxFds, flags, cloexec, timeoutMs, nowait) =>
// { data, fds, address } or null when nowait and nothing is there.
Value RecvMsg(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info);
  int max = int_arg(info, 1, "maxBytes", 1, 1 << 30);
  int max_fds = int_arg(info, 2, "maxFds", 0, kMaxPassedFds);
  int flags = flags_arg(info, 3, "flags", MSG_DONTWAIT);
  bool cloexec = info.Length() > 4 && info[4].ToBoolean();
  Wait w = wait_arg(info, 5);
  bool nowait = info.Length() > 6 && info[6].ToBoolean();
  RecvRoom room(env, max, "recvmsg", on_fd(fd));
  int fds[kMaxPassedFds];
  int nfds = 0;
  Addr from;
  ssize_t n = sys_recvmsg(fd, room.data(), max, fds, max_fds, &nfds, &from, cloexec, 0,
                          nowait || (flags & MSG_DONTWAIT) ? nullptr : &w);
  if (n == -EAGAIN && nowait) return env.Null();
  check(env, n, "recvmsg", after_wait(fd, w, nullptr));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, room.data(), n < max ? n : max));
  Napi::Array got = Napi::Array::New(env, nfds);
  for (int i = 0; i < nfds; i++) got.Set(static_cast<uint32_t>(i), fds[i]);
  o.Set("fds", got);
  o.Set("address", addr_to_js(env, from));
  return o;
}

}  // namespace wtf::binding
