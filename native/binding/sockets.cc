// N-API wrappers of the socket calls (native/posix/sockets.cc).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <memory>

#include "binding.h"
#include "contract.h"

namespace wtf::binding {

namespace {
// The flags each call takes; anything else is refused before the kernel
// sees it (MSG_TRUNC, for one, would make recv report more bytes than the
// buffer holds).
constexpr int kFdCreateFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;
constexpr int kSendFlags = MSG_OOB | MSG_DONTWAIT | MSG_MORE | MSG_NOSIGNAL;
constexpr int kRecvFlags = MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_OOB;

Value Pair(Napi::Env env, const int fds[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

Value NameOf(const CallbackInfo& info, int (*fn)(int, Addr*), const char* syscall) {
  int fd = fd_arg(info);
  Addr a;
  check(info.Env(), fn(fd, &a), syscall, on_fd(fd));
  return addr_to_js(info.Env(), a);
}
}  // namespace

Value Socket(const CallbackInfo& info) {
  // Arguments are read one statement at a time, first to last, so the
  // error names the first bad one (the order of evaluation of a call's
  // arguments is unspecified in C++).
  int domain = int_arg(info, 0, "domain", 0, 1 << 16);
  int type = int_arg(info, 1, "type", 0, 1 << 16);
  int flags = flags_arg(info, 2, "flags", kFdCreateFlags);
  return Napi::Number::New(info.Env(), check(info.Env(), sys_socket(domain, type, flags), "socket"));
}

Value Bind(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  check(info.Env(), sys_bind(fd, a), "bind", on_address(fd, a));
  return info.Env().Undefined();
}

Value Listen(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int backlog = int_arg(info, 1, "backlog", 0, INT32_MAX);
  check(info.Env(), sys_listen(fd, backlog), "listen", on_fd(fd));
  return info.Env().Undefined();
}

Value AttachDropFilter(const CallbackInfo& info) {
  int fd = fd_arg(info);
  check(info.Env(), sys_attach_drop_filter(fd), "setsockopt", on_fd(fd));
  return info.Env().Undefined();
}

Value Accept(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int flags = flags_arg(info, 1, "flags", kFdCreateFlags);
  Wait w = wait_arg(info, 2);
  Addr peer;
  int c = sys_accept(fd, flags, &w, &peer);
  check(info.Env(), c, "accept", after_wait(fd, w));
  return accepted(info.Env(), c, peer);
}

Value Connect(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Addr a = addr_arg(info, 1);
  bool resume = info[2].ToBoolean();
  Wait w = wait_arg(info, 3);
  check(info.Env(), sys_connect(fd, a, resume, &w), "connect", on_address(fd, a));
  return info.Env().Undefined();
}

Value Send(const CallbackInfo& info) {
  int fd = fd_arg(info);
  Napi::Uint8Array data = bytes_arg(info, 1);
  int flags = flags_arg(info, 2, "flags", kSendFlags);
  Wait w = wait_arg(info, 3);
  // A detached buffer has no data pointer and length 0: a zero-byte send.
  ssize_t n = sys_send(fd, data.ByteLength() ? data.Data() : nullptr, data.ByteLength(), flags, &w);
  check(info.Env(), n, "send", after_wait(fd, w));
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Value Recv(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int max = int_arg(info, 1, "maxBytes", 1, 1 << 30);
  int flags = flags_arg(info, 2, "flags", kRecvFlags);
  if ((flags & MSG_PEEK) && (flags & MSG_WAITALL))
    range_error(info.Env(), "The \"flags\" argument may not combine MSG_PEEK with MSG_WAITALL");
  Wait w = wait_arg(info, 3);
  // Receive into scratch memory and copy out only what arrived.
  RecvRoom room(info.Env(), max, "recv", on_fd(fd));
  ssize_t n = sys_recv(fd, room.data(), max, flags, &w);
  check(info.Env(), n, "recv", after_wait(fd, w));
  // Never more than the buffer holds, whatever the kernel reported.
  return Napi::Buffer<uint8_t>::Copy(info.Env(), room.data(), n < max ? n : max);
}

Value Shutdown(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int how = int_arg(info, 1, "how", 0, 2);
  check(info.Env(), sys_shutdown(fd, how), "shutdown", on_fd(fd));
  return info.Env().Undefined();
}

Value Close(const CallbackInfo& info) {
  int fd = fd_arg(info);
  release_fd_watch(data_of(info.Env()), fd);
  check(info.Env(), sys_close(fd), "close", on_fd(fd));
  return info.Env().Undefined();
}

Value GetSockName(const CallbackInfo& info) { return NameOf(info, sys_getsockname, "getsockname"); }
Value GetPeerName(const CallbackInfo& info) { return NameOf(info, sys_getpeername, "getpeername"); }

Value SocketPair(const CallbackInfo& info) {
  int domain = int_arg(info, 0, "domain", 0, 1 << 16);
  int type = int_arg(info, 1, "type", 0, 1 << 16);
  int flags = flags_arg(info, 2, "flags", kFdCreateFlags);
  int sv[2];
  check(info.Env(), sys_socketpair(domain, type, flags, sv), "socketpair");
  return Pair(info.Env(), sv);
}

Value Pipe(const CallbackInfo& info) {
  int fds[2];
  check(info.Env(), sys_pipe(flags_arg(info, 0, "flags", O_NONBLOCK | O_CLOEXEC), fds), "pipe2");
  return Pair(info.Env(), fds);
}

Value Dup(const CallbackInfo& info) {
  int fd = fd_arg(info);
  return Napi::Number::New(info.Env(), check(info.Env(), sys_dup(fd), "dup", on_fd(fd)));
}

Value Dup2(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int fd2 = fd_arg(info, 1, "newFd");
  if (fd2 != fd) release_fd_watch(data_of(info.Env()), fd2);
  return Napi::Number::New(info.Env(), check(info.Env(), sys_dup2(fd, fd2), "dup2", on_fd(fd)));
}

// (fd, flag: O_NONBLOCK or FD_CLOEXEC, value?: boolean): sets with a value,
// else gets.
Value FdFlag(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int flag = int_arg(info, 1, "flag", 0, INT32_MAX);
  if (flag != O_NONBLOCK && flag != FD_CLOEXEC)
    range_error(info.Env(), "The \"flag\" argument is not supported");
  bool status_flag = flag == O_NONBLOCK;  // F_GETFL/F_SETFL, else F_GETFD/F_SETFD
  if (info.Length() > 2 && info[2].IsBoolean()) {
    check(info.Env(), sys_set_fd_flag(fd, status_flag, flag, info[2].As<Napi::Boolean>()), "fcntl",
          on_fd(fd));
    return info.Env().Undefined();
  }
  int r = check(info.Env(), sys_get_fd_flag(fd, status_flag, flag), "fcntl", on_fd(fd));
  return Napi::Boolean::New(info.Env(), r == 1);
}

// (fd, level, option, kind, value, linger?): kind is a contract::SockoptKind.
Value SetSockOpt(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info), level = int_arg(info, 1, "level", 0, INT32_MAX);
  int name = int_arg(info, 2, "option", 0, INT32_MAX);
  int kind = int_arg(info, 3, "kind", contract::kSockoptInt, contract::kSockoptLinger);
  int r;
  if (kind == contract::kSockoptInt) {
    r = sys_setsockopt_int(fd, level, name, int_arg(info, 4, "value", INT32_MIN, INT32_MAX));
  } else if (kind == contract::kSockoptTimeval) {
    if (!info[4].IsNumber()) type_error(env, "The \"value\" argument must be a number");
    double s = info[4].As<Napi::Number>().DoubleValue();
    if (!(s >= 0 && s <= 1e8)) range_error(env, "The \"value\" argument is out of range");
    r = sys_setsockopt_timeval(fd, name, s);
  } else {
    r = sys_setsockopt_linger(fd, info[4].ToBoolean(), int_arg(info, 5, "linger", 0, INT32_MAX));
  }
  check(env, r, "setsockopt", on_fd(fd));
  return env.Undefined();
}

Value GetSockOpt(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info), level = int_arg(info, 1, "level", 0, INT32_MAX);
  int name = int_arg(info, 2, "option", 0, INT32_MAX);
  int kind = int_arg(info, 3, "kind", contract::kSockoptInt, contract::kSockoptLinger);
  if (kind == contract::kSockoptInt) {
    int v = 0;
    check(env, sys_getsockopt_int(fd, level, name, &v), "getsockopt", on_fd(fd));
    return Napi::Number::New(env, v);
  }
  if (kind == contract::kSockoptTimeval) {
    double s = 0;
    check(env, sys_getsockopt_timeval(fd, name, &s), "getsockopt", on_fd(fd));
    return Napi::Number::New(env, s);
  }
  bool on = false;
  int secs = 0;
  check(env, sys_getsockopt_linger(fd, &on, &secs), "getsockopt", on_fd(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("onoff", on);
  o.Set("linger", secs);
  return o;
}

// (fd): a socket filter that drops new handshakes (SO_ATTACH_FILTER).
Value DropSyns(const CallbackInfo& info) {
  int fd = fd_arg(info);
  check(info.Env(), sys_drop_syns(fd), "setsockopt", on_fd(fd));
  return info.Env().Undefined();
}

// (fd, option: SO_RCVTIMEO or SO_SNDTIMEO): the milliseconds a blocking call
// on the fd waits by default, -1 for forever (also when the fd is not a
// socket). The EINTR retry policy reads it to keep one deadline.
Value SocketTimeout(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int opt = int_arg(info, 1, "option", 0, INT32_MAX);
  if (opt != SO_RCVTIMEO && opt != SO_SNDTIMEO)
    range_error(info.Env(), "The \"option\" argument is not supported");
  return Napi::Number::New(info.Env(), socket_timeout_ms(fd, opt));
}

}  // namespace wtf::binding
