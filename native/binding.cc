// The only file that touches N-API. Each function checks its arguments again
// (JavaScript already did, with better messages), calls one function of the
// plain layer in posix.h and turns -errno into the error class JavaScript
// handed us at setup().
#include <errno.h>
#include <napi.h>
#include <string.h>
#include <sys/wait.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "posix.h"

using Napi::CallbackInfo;
using Napi::Value;

namespace {

struct Hooks {
  Napi::FunctionReference make_error;  // (errno, syscall, info) => Error
  Napi::FunctionReference on_signal;   // () => void, run pending handlers
  Napi::FunctionReference on_drain;    // () => void, a forked child's loop ran dry
  uv_loop_t* loop = nullptr;
  uv_poll_t* wake = nullptr;
  uv_check_t* reassert = nullptr;
  uv_prepare_t* drain = nullptr;
  uv_idle_t* drain_idle = nullptr;
  bool drain_suspect = false;
  napi_env env = nullptr;
};
Hooks* hooks = nullptr;

// ---- argument checks ---------------------------------------------------

[[noreturn]] void type_error(Napi::Env env, const char* what) { throw Napi::TypeError::New(env, what); }

int32_t int_arg(const CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber())
    type_error(env, (std::string("The \"") + name + "\" argument must be a number").c_str());
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
    throw Napi::RangeError::New(env, std::string("The \"") + name + "\" argument is out of range");
  return static_cast<int32_t>(d);
}

// A flags word whose every bit is in `allowed`, the set the call supports.
int flags_arg(const CallbackInfo& info, size_t i, int allowed) {
  int flags = int_arg(info, i, "flags", 0, INT32_MAX);
  if (flags & ~allowed)
    throw Napi::RangeError::New(info.Env(), "The \"flags\" argument has a flag this call does not support");
  return flags;
}

constexpr int kFdFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;
constexpr int kSendFlags = MSG_OOB | MSG_DONTWAIT | MSG_MORE | MSG_NOSIGNAL;
constexpr int kRecvFlags = MSG_OOB | MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL;

int fd_arg(const CallbackInfo& info, size_t i = 0, const char* name = "fd") {
  return int_arg(info, i, name, 0, INT32_MAX);
}

[[noreturn]] void throw_errno(Napi::Env env, int err, const char* syscall,
                              Napi::Object extra = Napi::Object()) {
  if (!hooks) {
    // The addon was loaded without the JavaScript layer (setup() never
    // ran): still a clear error, never a null dereference.
    Napi::Error e = Napi::Error::New(env, std::string(syscall) + " failed: " + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.Set("syscall", Napi::String::New(env, syscall));
    throw e;
  }
  Napi::Value args[3] = {Napi::Number::New(env, err), Napi::String::New(env, syscall),
                         extra.IsEmpty() ? env.Undefined() : Napi::Value(extra)};
  Napi::Value e = hooks->make_error.Call({args[0], args[1], args[2]});
  throw Napi::Error(env, e);
}

void check(Napi::Env env, long r, const char* syscall) {
  if (r < 0) throw_errno(env, static_cast<int>(-r), syscall);
}

const char* family_name(int f) {
  return f == AF_INET ? "AF_INET" : f == AF_INET6 ? "AF_INET6" : f == AF_UNIX ? "AF_UNIX" : "AF_UNSPEC";
}

Napi::Object addr_to_js(Napi::Env env, const wtf::Addr& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", family_name(a.family));
  if (a.family == AF_UNIX) {
    o.Set("path", a.path);
    return o;
  }
  o.Set("address", a.address);
  o.Set("port", a.port);
  if (a.family == AF_INET6) {
    o.Set("flowinfo", a.flowinfo);
    o.Set("scopeId", a.scope_id);
  }
  return o;
}

wtf::Addr addr_from_js(const CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsObject())
    type_error(env, "The \"address\" argument must be an object");
  Napi::Object o = info[i].As<Napi::Object>();
  wtf::Addr a;
  Napi::Value fam = o.Get("family"), port = o.Get("port"), addr = o.Get("address"), path = o.Get("path");
  if (!fam.IsNumber()) type_error(env, "address.family must be a number");
  a.family = fam.As<Napi::Number>().Int32Value();
  if (a.family == AF_UNIX) {
    if (!path.IsString()) type_error(env, "address.path must be a string");
    a.path = path.As<Napi::String>().Utf8Value();
    return a;
  }
  if (!addr.IsString()) type_error(env, "address.address must be a string");
  if (!port.IsNumber()) type_error(env, "address.port must be a number");
  a.address = addr.As<Napi::String>().Utf8Value();
  double p = port.As<Napi::Number>().DoubleValue();
  if (!(p >= 0 && p <= 65535) || p != std::floor(p))
    throw Napi::RangeError::New(env, "address.port is out of range");
  a.port = static_cast<int>(p);
  Napi::Value fl = o.Get("flowinfo"), sc = o.Get("scopeId");
  if (fl.IsNumber()) a.flowinfo = fl.As<Napi::Number>().Uint32Value();
  if (sc.IsNumber()) a.scope_id = sc.As<Napi::Number>().Uint32Value();
  return a;
}

Napi::Object addr_info(Napi::Env env, const wtf::Addr& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("address", addr_to_js(env, a));
  return o;
}

wtf::Wait wait_arg(const CallbackInfo& info, size_t i) {
  wtf::Wait w;
  w.timeout_ms = int_arg(info, i, "timeoutMs", -1, INT32_MAX);
  return w;
}

// Blocking calls report EAGAIN on a blocking fd as a timeout.
[[noreturn]] void throw_wait_errno(Napi::Env env, int err, const char* syscall, const wtf::Wait& w) {
  Napi::Object extra = Napi::Object::New(env);
  if (w.timed_out) extra.Set("timedOut", true);
  throw_errno(env, err, syscall, extra);
}

// ---- sockets -------------------------------------------------------------

Value Socket(const CallbackInfo& info) {
  // Arguments are read one statement at a time, first to last, so the
  // error names the first bad one (the order of evaluation of a call's
  // arguments is unspecified in C++).
  int domain = int_arg(info, 0, "domain", 0, 1 << 16);
  int type = int_arg(info, 1, "type", 0, 1 << 16);
  int flags = flags_arg(info, 2, kFdFlags);
  int r = wtf::sys_socket(domain, type, flags);
  check(info.Env(), r, "socket");
  return Napi::Number::New(info.Env(), r);
}

Value Bind(const CallbackInfo& info) {
  int fd = fd_arg(info);
  wtf::Addr a = addr_from_js(info, 1);
  int r = wtf::sys_bind(fd, a);
  if (r < 0) throw_errno(info.Env(), -r, "bind", addr_info(info.Env(), a));
  return info.Env().Undefined();
}

Value Listen(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int backlog = int_arg(info, 1, "backlog", 0, INT32_MAX);
  check(info.Env(), wtf::sys_listen(fd, backlog), "listen");
  return info.Env().Undefined();
}

Value Accept(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int flags = flags_arg(info, 1, kFdFlags);
  wtf::Wait w = wait_arg(info, 2);
  wtf::Addr peer;
  int c = wtf::sys_accept(fd, flags, &w, &peer);
  if (c < 0) throw_wait_errno(info.Env(), -c, "accept", w);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fd", c);
  o.Set("address", addr_to_js(info.Env(), peer));
  return o;
}

Value Connect(const CallbackInfo& info) {
  int fd = fd_arg(info);
  wtf::Addr a = addr_from_js(info, 1);
  bool resume = info[2].ToBoolean();
  wtf::Wait w = wait_arg(info, 3);
  int r = wtf::sys_connect(fd, a, resume, &w);
  if (r < 0) throw_errno(info.Env(), -r, "connect", addr_info(info.Env(), a));
  return info.Env().Undefined();
}

Value Send(const CallbackInfo& info) {
  int fd = fd_arg(info);
  if (info.Length() < 2 || !info[1].IsTypedArray())
    type_error(info.Env(), "The \"data\" argument must be a Uint8Array");
  Napi::TypedArray view = info[1].As<Napi::TypedArray>();
  if (view.TypedArrayType() != napi_uint8_array && view.TypedArrayType() != napi_uint8_clamped_array)
    type_error(info.Env(), "The \"data\" argument must be a Uint8Array");
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  int flags = flags_arg(info, 2, kSendFlags);
  wtf::Wait w = wait_arg(info, 3);
  // A detached buffer has no data pointer and length 0: a zero-byte send.
  ssize_t n = wtf::sys_send(fd, data.ByteLength() ? data.Data() : nullptr, data.ByteLength(), flags, &w);
  if (n < 0) throw_wait_errno(info.Env(), static_cast<int>(-n), "send", w);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Value Recv(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int max = int_arg(info, 1, "maxBytes", 1, 1 << 30);
  int flags = flags_arg(info, 2, kRecvFlags);
  if ((flags & MSG_PEEK) && (flags & MSG_WAITALL))
    throw Napi::RangeError::New(info.Env(),
                                "The \"flags\" argument may not combine MSG_PEEK with MSG_WAITALL");
  wtf::Wait w = wait_arg(info, 3);
  // Receive into scratch memory and copy out only what arrived: a large
  // maxBytes costs address space (malloc leaves untouched pages alone), not
  // a JavaScript allocation of that size.
  uint8_t small[64 * 1024];
  std::unique_ptr<uint8_t, void (*)(void*)> big(nullptr, free);
  uint8_t* into = small;
  if (static_cast<size_t>(max) > sizeof small) {
    big.reset(static_cast<uint8_t*>(malloc(max)));
    if (!big) throw_errno(info.Env(), ENOMEM, "recv");
    into = big.get();
  }
  ssize_t n = wtf::sys_recv(fd, into, max, flags, &w);
  if (n < 0) throw_wait_errno(info.Env(), static_cast<int>(-n), "recv", w);
  // Never copy out more than the room recv had, whatever it reported.
  return Napi::Buffer<uint8_t>::Copy(info.Env(), into, std::min<size_t>(n, max));
}

Value Shutdown(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int how = int_arg(info, 1, "how", 0, 2);
  check(info.Env(), wtf::sys_shutdown(fd, how), "shutdown");
  return info.Env().Undefined();
}

Value Close(const CallbackInfo& info) {
  check(info.Env(), wtf::sys_close(fd_arg(info)), "close");
  return info.Env().Undefined();
}

Value NameOf(const CallbackInfo& info, int (*fn)(int, wtf::Addr*), const char* syscall) {
  wtf::Addr a;
  check(info.Env(), fn(fd_arg(info), &a), syscall);
  return addr_to_js(info.Env(), a);
}
Value GetSockName(const CallbackInfo& info) { return NameOf(info, wtf::sys_getsockname, "getsockname"); }
Value GetPeerName(const CallbackInfo& info) { return NameOf(info, wtf::sys_getpeername, "getpeername"); }

Value Pair(Napi::Env env, const int fds[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

Value SocketPair(const CallbackInfo& info) {
  int domain = int_arg(info, 0, "domain", 0, 1 << 16);
  int type = int_arg(info, 1, "type", 0, 1 << 16);
  int flags = flags_arg(info, 2, kFdFlags);
  int sv[2];
  check(info.Env(), wtf::sys_socketpair(domain, type, flags, sv), "socketpair");
  return Pair(info.Env(), sv);
}

Value Pipe(const CallbackInfo& info) {
  int fds[2];
  check(info.Env(), wtf::sys_pipe(flags_arg(info, 0, O_NONBLOCK | O_CLOEXEC), fds), "pipe2");
  return Pair(info.Env(), fds);
}

Value Dup(const CallbackInfo& info) {
  int r = wtf::sys_dup(fd_arg(info));
  check(info.Env(), r, "dup");
  return Napi::Number::New(info.Env(), r);
}

Value Dup2(const CallbackInfo& info) {
  int fd = fd_arg(info);
  int fd2 = fd_arg(info, 1, "newFd");
  int r = wtf::sys_dup2(fd, fd2);
  check(info.Env(), r, "dup2");
  return Napi::Number::New(info.Env(), r);
}

// (fd, which: 0 = O_NONBLOCK, 1 = FD_CLOEXEC, value?: boolean)
Value FdFlag(const CallbackInfo& info) {
  int fd = fd_arg(info);
  bool nonblock = int_arg(info, 1, "which", 0, 1) == 0;
  int bit = nonblock ? O_NONBLOCK : FD_CLOEXEC;
  if (info.Length() > 2 && info[2].IsBoolean()) {
    check(info.Env(), wtf::sys_set_fd_flag(fd, nonblock, bit, info[2].As<Napi::Boolean>()), "fcntl");
    return info.Env().Undefined();
  }
  int r = wtf::sys_get_fd_flag(fd, nonblock, bit);
  check(info.Env(), r, "fcntl");
  return Napi::Boolean::New(info.Env(), r == 1);
}

// (fd, level, name, kind, value): kind 0 = int, 1 = timeval, 2 = linger
Value SetSockOpt(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info), level = int_arg(info, 1, "level", 0, INT32_MAX);
  int name = int_arg(info, 2, "option", 0, INT32_MAX), kind = int_arg(info, 3, "kind", 0, 2);
  int r;
  if (kind == 0) {
    r = wtf::sys_setsockopt_int(fd, level, name, int_arg(info, 4, "value", INT32_MIN, INT32_MAX));
  } else if (kind == 1) {
    if (!info[4].IsNumber()) type_error(env, "The \"value\" argument must be a number");
    double s = info[4].As<Napi::Number>().DoubleValue();
    if (!(s >= 0 && s <= 1e8)) throw Napi::RangeError::New(env, "The \"value\" argument is out of range");
    r = wtf::sys_setsockopt_timeval(fd, name, s);
  } else {
    r = wtf::sys_setsockopt_linger(fd, info[4].ToBoolean(), int_arg(info, 5, "linger", 0, INT32_MAX));
  }
  check(env, r, "setsockopt");
  return env.Undefined();
}

Value GetSockOpt(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info), level = int_arg(info, 1, "level", 0, INT32_MAX);
  int name = int_arg(info, 2, "option", 0, INT32_MAX), kind = int_arg(info, 3, "kind", 0, 2);
  if (kind == 0) {
    int v = 0;
    check(env, wtf::sys_getsockopt_int(fd, level, name, &v), "getsockopt");
    return Napi::Number::New(env, v);
  }
  if (kind == 1) {
    double s = 0;
    check(env, wtf::sys_getsockopt_timeval(fd, name, &s), "getsockopt");
    return Napi::Number::New(env, s);
  }
  bool on = false;
  int secs = 0;
  check(env, wtf::sys_getsockopt_linger(fd, &on, &secs), "getsockopt");
  Napi::Object o = Napi::Object::New(env);
  o.Set("onoff", on);
  o.Set("linger", secs);
  return o;
}

// ---- processes -------------------------------------------------------------

Value GetPid(const CallbackInfo& info) { return Napi::Number::New(info.Env(), getpid()); }
Value GetPpid(const CallbackInfo& info) { return Napi::Number::New(info.Env(), getppid()); }

Value Sleep(const CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber())
    type_error(info.Env(), "The \"ms\" argument must be a number");
  double ms = info[0].As<Napi::Number>().DoubleValue(), left = 0;
  if (!(ms >= 0 && ms <= 1e12))
    throw Napi::RangeError::New(info.Env(), "The \"ms\" argument is out of range");
  int r = wtf::sys_sleep(ms, &left);
  return Napi::Number::New(info.Env(), r < 0 ? left : 0);
}

void start_drain_watch();

// Everything the child needs before it runs JavaScript again, done here in
// C++: each step in JavaScript would be compiled afresh in every child.
struct ChildPlan {
  int stdio_mask = 0;
  uint64_t ignore = 0;  // bit n: the child starts with signal n ignored
};

void child_setup(void* arg) {
  auto* plan = static_cast<ChildPlan*>(arg);
  // The child's event loop gets an epoll instance of its own; until then it
  // would be watching (and stealing events from) the parent's.
  if (uv_loop_fork(hooks->loop) != 0) wtf::sys_exit_now(70);
  wtf::make_stdio_blocking(plan->stdio_mask);
  // Still inside the blocked window: a signal already on its way is
  // ignored, not acted on, once the mask is restored.
  for (int sig = 1; sig < 64; sig++)
    if (plan->ignore & (1ULL << sig)) wtf::signals_set(sig, wtf::Disposition::kIgnore, {});
  start_drain_watch();
}

// (stdioMask, ignoreSignals): bit 0 and bit 1 of stdioMask ask the child to
// make its stdout / stderr pipe blocking (see make_stdio_blocking);
// ignoreSignals lists signals the child ignores from its first instruction.
Value Fork(const CallbackInfo& info) {
  if (!wtf::on_main_thread())
    throw Napi::Error::New(info.Env(), "fork() may only be called from the main thread, not a worker thread");
  ChildPlan plan;
  plan.stdio_mask = info.Length() > 0 ? int_arg(info, 0, "stdioMask", 0, 3) : 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsArray()) type_error(info.Env(), "The \"ignoreSignals\" argument must be an array");
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 1 && d < 64) || d != std::floor(d) || d == SIGKILL || d == SIGSTOP)
        throw Napi::RangeError::New(info.Env(), "The \"ignoreSignals\" argument holds an invalid signal");
      plan.ignore |= 1ULL << static_cast<int>(d);
    }
  }
  int pid = wtf::fork_process(child_setup, &plan);
  check(info.Env(), pid, "fork");
  return Napi::Number::New(info.Env(), pid);
}

Value MarkHeapForkable(const CallbackInfo& info) {
  return Napi::Number::New(info.Env(), wtf::mark_heap_forkable());
}

Value Exit(const CallbackInfo& info) { wtf::sys_exit_now(int_arg(info, 0, "code", 0, 255)); }

std::vector<std::string> strings_arg(const CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsArray())
    type_error(info.Env(),
               (std::string("The \"") + name + "\" argument must be an array of strings").c_str());
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsString())
      type_error(info.Env(),
                 (std::string("The \"") + name + "\" argument must be an array of strings").c_str());
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

// (path, argv, envp as "NAME=value" strings): replaces the process image.
Value Execve(const CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    type_error(info.Env(), "The \"path\" argument must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = strings_arg(info, 1, "argv"), env = strings_arg(info, 2, "env");
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  int r = wtf::sys_execve(path.c_str(), argv.data(), envp.data());
  Napi::Object extra = Napi::Object::New(info.Env());
  extra.Set("path", path);
  throw_errno(info.Env(), -r, "execve", extra);
}

const char* status_kind(int st) {
  return WIFEXITED(st) ? "exited" : WIFSIGNALED(st) ? "signaled" : WIFSTOPPED(st) ? "stopped" : "continued";
}

Value WaitPid(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = int_arg(info, 0, "pid", INT32_MIN + 1, INT32_MAX);
  int status = 0;
  int options = int_arg(info, 1, "options", 0, INT32_MAX);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED))
    throw Napi::RangeError::New(env, "The \"options\" argument has a flag waitpid does not support");
  int r = wtf::sys_waitpid(pid, options, &status);
  if (r < 0) {
    Napi::Object extra = Napi::Object::New(env);
    extra.Set("pid", pid);
    throw_errno(env, -r, "waitpid", extra);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", r);
  o.Set("status", status);
  o.Set("kind", r == 0 ? "running" : status_kind(status));
  if (r > 0 && WIFEXITED(status)) o.Set("code", WEXITSTATUS(status));
  if (r > 0 && WIFSIGNALED(status)) {
    o.Set("signal", WTERMSIG(status));
    o.Set("coreDumped", WCOREDUMP(status) != 0);
  }
  if (r > 0 && WIFSTOPPED(status)) o.Set("signal", WSTOPSIG(status));
  return o;
}

Value Kill(const CallbackInfo& info) {
  int pid = int_arg(info, 0, "pid", INT32_MIN + 1, INT32_MAX);
  int r = wtf::sys_kill(pid, int_arg(info, 1, "signal", 0, NSIG - 1));
  if (r < 0) {
    Napi::Object extra = Napi::Object::New(info.Env());
    extra.Set("pid", pid);
    throw_errno(info.Env(), -r, "kill", extra);
  }
  return info.Env().Undefined();
}

// ---- signals -------------------------------------------------------------

// Calls a JavaScript hook from a libuv callback. The hooks never throw: they
// hand errors to process.nextTick themselves.
void call_hook(Napi::FunctionReference& fn) {
  Napi::Env env(hooks->env);
  Napi::HandleScope scope(env);
  napi_async_context ctx = nullptr;
  napi_async_init(env, nullptr, Napi::String::New(env, "what-the-fork"), &ctx);
  fn.MakeCallback(env.Global(), {}, ctx);
  napi_async_destroy(env, ctx);
}

// (sig, disposition: 0 previous, 1 ignore, 2 handle, 3 default, flags)
Value Sigaction(const CallbackInfo& info) {
  int sig = int_arg(info, 0, "signal", 1, NSIG - 1);
  int d = int_arg(info, 1, "disposition", 0, 3);
  int f = int_arg(info, 2, "flags", 0, 31);
  wtf::SigOptions o;
  o.restart = f & 1, o.nocldstop = f & 2, o.nocldwait = f & 4, o.resethand = f & 8, o.nodefer = f & 16;
  check(info.Env(), wtf::signals_set(sig, static_cast<wtf::Disposition>(d), o), "sigaction");
  return info.Env().Undefined();
}

Value TakeSignals(const CallbackInfo& info) {
  int sigs[NSIG];
  int n = wtf::signals_take(sigs, NSIG);
  Napi::Array a = Napi::Array::New(info.Env(), n);
  for (int i = 0; i < n; i++) a.Set(i, sigs[i]);
  return a;
}

// Takes back, at once, signals that Node or libuv just took over (called
// right after process.on/removeListener for a signal event).
Value ReassertSignals(const CallbackInfo& info) {
  wtf::signals_reassert();
  return info.Env().Undefined();
}

Value SignalRestarts(const CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), wtf::signals_restart_flag(int_arg(info, 0, "signal", 1, NSIG - 1)));
}

// A forked child's event loop must never run dry inside Node: when uv_run
// returns, Node calls NodePlatform::DrainTasks, which waits for V8 worker
// tasks that died with the fork, forever. A ref'd prepare handle keeps
// uv_run from returning; when nothing else would keep the loop alive for two
// turns in a row (the second with a zero timeout, so pending close callbacks
// get to run), JavaScript is told and ends the child as Node would have.
//
// Node's own sequence is: the loop runs dry, 'beforeExit' is emitted, and
// the process exits only if the loop is still dry after it. The phase word
// (shared with JavaScript) says which step the hook is asked for.
int32_t drain_phase[1] = {0};  // 1 = emit 'beforeExit', 2 = exit now
Napi::Reference<Napi::Int32Array>* drain_word = nullptr;

// Whether anything but the watcher's own handles keeps the loop alive
// (active ref'd handles, requests such as fs or threadpool work, pending
// callbacks, handles being closed): uv_loop_alive with ours unref'd.
bool loop_dry(uv_loop_t* loop) {
  auto* prep = reinterpret_cast<uv_handle_t*>(hooks->drain);
  auto* idle = reinterpret_cast<uv_handle_t*>(hooks->drain_idle);
  uv_unref(prep);
  uv_unref(idle);
  bool alive = uv_loop_alive(loop) != 0;
  uv_ref(prep);
  uv_ref(idle);
  return !alive;
}

void on_drain_prepare(uv_prepare_t* h) {
  bool dry = loop_dry(h->loop);
  if (!dry || !hooks->drain_suspect) {
    hooks->drain_suspect = dry;
    if (dry)
      uv_idle_start(hooks->drain_idle, [](uv_idle_t*) {});
    else
      uv_idle_stop(hooks->drain_idle);
    return;
  }
  hooks->drain_suspect = false;
  uv_idle_stop(hooks->drain_idle);
  drain_phase[0] = 1;
  call_hook(hooks->on_drain);  // 'beforeExit'; its ticks and microtasks ran
  if (loop_dry(h->loop)) {
    drain_phase[0] = 2;
    call_hook(hooks->on_drain);  // does not return unless JavaScript refused
  }
  drain_phase[0] = 0;
}

void start_drain_watch() {
  if (!hooks->drain) {
    hooks->drain = new uv_prepare_t;
    hooks->drain_idle = new uv_idle_t;
    uv_prepare_init(hooks->loop, hooks->drain);
    uv_idle_init(hooks->loop, hooks->drain_idle);
  }
  uv_prepare_start(hooks->drain, on_drain_prepare);
}

// Returns the phase word (the same one every call). With `start` it also
// starts the watcher; a forked child has it started by fork() itself.
Value WatchLoopDrain(const CallbackInfo& info) {
  if (!hooks) throw Napi::Error::New(info.Env(), "watchLoopDrain: setup() has not run");
  if (info.Length() == 0 || info[0].ToBoolean()) start_drain_watch();
  if (!drain_word) {
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), drain_phase, sizeof drain_phase);
    drain_word =
        new Napi::Reference<Napi::Int32Array>(Napi::Persistent(Napi::Int32Array::New(info.Env(), 1, ab, 0)));
  }
  return drain_word->Value();
}

// Learns the address of libuv's signal handler by letting libuv install it
// for a signal nobody uses, then puts that signal back as it was.
void probe_libuv_handler(uv_loop_t* loop) {
  int sig = SIGRTMAX;
  struct sigaction before, seen;
  sigaction(sig, nullptr, &before);
  auto* probe = new uv_signal_t;
  uv_signal_init(loop, probe);
  if (uv_signal_start(
          probe, [](uv_signal_t*, int) {}, sig) == 0) {
    sigaction(sig, nullptr, &seen);
    if (!(seen.sa_flags & SA_SIGINFO)) wtf::signals_set_libuv_handler(seen.sa_handler);
    uv_signal_stop(probe);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(probe),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  sigaction(sig, &before, nullptr);
}

Value Setup(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction() || !info[1].IsFunction() || !info[2].IsFunction())
    type_error(env, "setup(makeError, onSignal, onDrain) takes three functions");
  // The view of the shared "signal pending" word handed to JavaScript.
  static Napi::Reference<Napi::Int32Array>* state_view = nullptr;
  if (hooks) {
    // Loaded again in the same process (a test runner that gives each test
    // file a module registry of its own): the newest JavaScript layer takes
    // the hooks over, so the error classes thrown are the ones it exports.
    if (hooks->env != static_cast<napi_env>(env)) return env.Undefined();
    hooks->make_error.Reset(info[0].As<Napi::Function>(), 1);
    hooks->on_signal.Reset(info[1].As<Napi::Function>(), 1);
    hooks->on_drain.Reset(info[2].As<Napi::Function>(), 1);
    return state_view->Value();
  }
  hooks = new Hooks;
  hooks->env = env;
  hooks->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  hooks->on_signal = Napi::Persistent(info[1].As<Napi::Function>());
  hooks->on_drain = Napi::Persistent(info[2].As<Napi::Function>());
  napi_get_uv_event_loop(env, &hooks->loop);
  wtf::signals_init();
  probe_libuv_handler(hooks->loop);
  // The loop watches the wake fd, unref'd, so handlers run while idle.
  hooks->wake = new uv_poll_t;
  uv_poll_init(hooks->loop, hooks->wake, wtf::signals_wake_fd());
  uv_poll_start(hooks->wake, UV_READABLE, [](uv_poll_t*, int, int) { call_hook(hooks->on_signal); });
  uv_unref(reinterpret_cast<uv_handle_t*>(hooks->wake));
  // Every turn of the loop, take back signals that libuv took over.
  hooks->reassert = new uv_check_t;
  uv_check_init(hooks->loop, hooks->reassert);
  uv_check_start(hooks->reassert, [](uv_check_t*) { wtf::signals_reassert(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(hooks->reassert));
  int32_t* word = wtf::signals_state_word();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, word, sizeof(int32_t) * 2);
  state_view = new Napi::Reference<Napi::Int32Array>(Napi::Persistent(Napi::Int32Array::New(env, 2, ab, 0)));
  return state_view->Value();
}

Value Constants(Napi::Env env);

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // clang-format off
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
    {"setup", Setup},         {"socket", Socket},       {"bind", Bind},
    {"listen", Listen},       {"accept", Accept},       {"connect", Connect},
    {"send", Send},           {"recv", Recv},           {"shutdown", Shutdown},
    {"close", Close},         {"getsockname", GetSockName}, {"getpeername", GetPeerName},
    {"socketpair", SocketPair}, {"pipe", Pipe},         {"dup", Dup},
    {"dup2", Dup2},           {"fdFlag", FdFlag},       {"setsockopt", SetSockOpt},
    {"getsockopt", GetSockOpt}, {"getpid", GetPid},     {"getppid", GetPpid},
    {"sleep", Sleep},         {"fork", Fork},           {"markHeapForkable", MarkHeapForkable},
    {"_exit", Exit},          {"execve", Execve},          {"waitpid", WaitPid},     {"kill", Kill},
    {"sigaction", Sigaction}, {"takeSignals", TakeSignals}, {"signalRestarts", SignalRestarts},
    {"watchLoopDrain", WatchLoopDrain}, {"reassertSignals", ReassertSignals},
  };
  // clang-format on
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

#include "constants.inc"

NODE_API_MODULE(what_the_fork, Init)
