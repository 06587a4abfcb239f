// N-API wrappers of the calls that never wait (native/posix/nowait.cc), for
// the promise API. "Would have to wait" is an ordinary result here (null,
// -1 or false), not an error: the promise API waits for readiness and tries
// again, and building an error object for every EAGAIN would cost more than
// the call.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <memory>

#include "binding.h"

namespace wtf::binding {

namespace {
constexpr int kFdCreateFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;
constexpr int kSendFlags = MSG_MORE | MSG_NOSIGNAL | MSG_OOB;
constexpr int kRecvFlags = MSG_PEEK | MSG_OOB;

ErrorContext on_fd(int fd) {
  ErrorContext where;
  where.fd = fd;
  return where;
}
}  // namespace

// (fd, flags) => { fd, address } | null
Value AcceptNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int flags = flags_arg(info, 1, "flags", kFdCreateFlags);
  Addr peer;
  int c = nowait_accept(fd, flags, &peer);
  if (c == -EAGAIN) return info.Env().Null();
  check(info.Env(), c, "accept", on_fd(fd));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fd", c);
  o.Set("address", addr_to_js(info.Env(), peer));
  return o;
}

// (fd, address) => true when connected, false when the handshake goes on
// (wait until writable, then connectResult).
Value ConnectNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  int r = nowait_connect(fd, a);
  if (r == -EINPROGRESS) return Napi::Boolean::New(info.Env(), false);
  ErrorContext where = on_fd(fd);
  where.address = &a;
  check(info.Env(), r, "connect", where);
  return Napi::Boolean::New(info.Env(), true);
}

// (fd, address): throws the error a finished handshake ended with, if any.
Value ConnectResult(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  ErrorContext where = on_fd(fd);
  where.address = &a;
  check(info.Env(), nowait_connect_result(fd), "connect", where);
  return info.Env().Undefined();
}

// (fd, data, flags) => bytes sent, or -1 when the buffer is full.
Value SendNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    type_error(info.Env(), "The \"data\" argument must be a Uint8Array");
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  int flags = flags_arg(info, 2, "flags", kSendFlags);
  ssize_t n = nowait_send(fd, data.ByteLength() ? data.Data() : nullptr, data.ByteLength(), flags);
  if (n == -EAGAIN) return Napi::Number::New(info.Env(), -1);
  check(info.Env(), n, "send", on_fd(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// (fd, maxBytes, flags) => Buffer (empty at end of stream) | null
Value RecvNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int max = int_arg(info, 1, "maxBytes", 1, 1 << 30);
  int flags = flags_arg(info, 2, "flags", kRecvFlags);
  uint8_t small[64 * 1024];
  std::unique_ptr<uint8_t, void (*)(void*)> big(nullptr, free);
  uint8_t* into = small;
  if (static_cast<size_t>(max) > sizeof small) {
    big.reset(static_cast<uint8_t*>(malloc(max)));
    if (!big) throw_errno(info.Env(), ENOMEM, "recv", on_fd(fd));
    into = big.get();
  }
  ssize_t n = nowait_recv(fd, into, max, flags);
  if (n == -EAGAIN) return info.Env().Null();
  check(info.Env(), n, "recv", on_fd(fd));
  return Napi::Buffer<uint8_t>::Copy(info.Env(), into, n < max ? n : max);
}

// (pid) => a pidfd (close-on-exec)
Value PidfdOpen(const CallbackInfo& info) {
  int pid = int_arg(info, 0, "pid", 1, INT32_MAX);
  ErrorContext where;
  where.has_pid = true;
  where.pid = pid;
  return Napi::Number::New(info.Env(), check(info.Env(), sys_pidfd_open(pid), "pidfd_open", where));
}

}  // namespace wtf::binding
