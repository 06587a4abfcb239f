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
}  // namespace

// (fd, flags) => { fd, address } | null
Value AcceptNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int flags = flags_arg(info, 1, "flags", kFdCreateFlags);
  Addr peer;
  int c = nowait_accept(fd, flags, &peer);
  if (c == -EAGAIN) return info.Env().Null();
  check(info.Env(), c, "accept", on_fd(fd));
  return accepted(info.Env(), c, peer);
}

// (fd, address) => true when connected, false when the handshake goes on
// (wait until writable, then connectResult).
Value ConnectNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  int r = nowait_connect(fd, a);
  if (r == -EINPROGRESS) return Napi::Boolean::New(info.Env(), false);
  check(info.Env(), r, "connect", on_address(fd, a));
  return Napi::Boolean::New(info.Env(), true);
}

// (fd, address): throws the error a finished handshake ended with, if any.
Value ConnectResult(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  check(info.Env(), nowait_connect_result(fd), "connect", on_address(fd, a));
  return info.Env().Undefined();
}

// (fd, data, flags) => bytes sent, or -1 when the buffer is full.
Value SendNow(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Napi::Uint8Array data = bytes_arg(info, 1);
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
  RecvRoom room(info.Env(), max, "recv", on_fd(fd));
  ssize_t n = nowait_recv(fd, room.data(), max, flags);
  if (n == -EAGAIN) return info.Env().Null();
  check(info.Env(), n, "recv", on_fd(fd));
  return Napi::Buffer<uint8_t>::Copy(info.Env(), room.data(), n < max ? n : max);
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
