// Argument decoding and the error bridge: the two ways N-API values cross
// into and out of the plain layer.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <cmath>

#include "binding.h"

namespace wtf::binding {

// Argument errors carry Node's own codes, as the JavaScript layer's do.
void type_error(Napi::Env env, const std::string& what) {
  Napi::TypeError e = Napi::TypeError::New(env, what);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw e;
}
void range_error(Napi::Env env, const std::string& what) {
  Napi::RangeError e = Napi::RangeError::New(env, what);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw e;
}

int32_t int_arg(const CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber())
    type_error(env, std::string("The \"") + name + "\" argument must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
    range_error(env, std::string("The \"") + name + "\" argument is out of range");
  return static_cast<int32_t>(d);
}

bool bool_arg(const CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    type_error(info.Env(), std::string("The \"") + name + "\" argument must be a boolean");
  return info[i].As<Napi::Boolean>();
}

int fd_arg(const CallbackInfo& info, size_t i, const char* name) {
  return int_arg(info, i, name, 0, INT32_MAX);
}

int flags_arg(const CallbackInfo& info, size_t i, const char* name, int allowed) {
  int f = int_arg(info, i, name, 0, INT32_MAX);
  if (f & ~allowed)
    range_error(info.Env(), std::string("The \"") + name + "\" argument holds unsupported bits");
  return f;
}

namespace {
const char* family_name(int f) {
  return f == AF_INET ? "AF_INET" : f == AF_INET6 ? "AF_INET6" : f == AF_UNIX ? "AF_UNIX" : "AF_UNSPEC";
}
}  // namespace

Napi::Object addr_to_js(Napi::Env env, const Addr& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", family_name(a.family));
  if (a.family == AF_UNIX) {
    o.Set("path", a.path);
    return o;
  }
  if (a.family != AF_INET && a.family != AF_INET6) return o;
  o.Set("address", a.address);
  o.Set("port", a.port);
  if (a.family == AF_INET6) {
    o.Set("flowinfo", a.flowinfo);
    o.Set("scopeId", a.scope_id);
  }
  return o;
}

Addr addr_arg(const CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsObject())
    type_error(env, "The \"address\" argument must be an object");
  Napi::Object o = info[i].As<Napi::Object>();
  Addr a;
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
  if (!(p >= 0 && p <= 65535) || p != std::floor(p)) range_error(env, "address.port is out of range");
  a.port = static_cast<int>(p);
  Napi::Value fl = o.Get("flowinfo"), sc = o.Get("scopeId");
  if (fl.IsNumber()) a.flowinfo = fl.As<Napi::Number>().Uint32Value();
  if (sc.IsNumber()) a.scope_id = sc.As<Napi::Number>().Uint32Value();
  return a;
}

Wait wait_arg(const CallbackInfo& info, size_t i) {
  Wait w;
  w.timeout_ms = int_arg(info, i, "timeoutMs", -1, INT32_MAX);
  return w;
}

// The context as JavaScript's makeError takes it: { fd, address, port,
// path, pid, timedOut }, each only when known.
static Napi::Object context_to_js(Napi::Env env, const ErrorContext& where) {
  Napi::Object o = Napi::Object::New(env);
  if (where.fd >= 0) o.Set("fd", where.fd);
  if (const Addr* a = where.address) {
    if (a->family == AF_UNIX) {
      o.Set("path", a->path);
    } else if (a->family == AF_INET || a->family == AF_INET6) {
      o.Set("address", a->address);
      o.Set("port", a->port);
    }
  }
  if (where.path) o.Set("path", where.path);
  if (where.has_pid) o.Set("pid", where.pid);
  if (where.timed_out) o.Set("timedOut", true);
  return o;
}

void throw_errno(Napi::Env env, int err, const char* syscall, const ErrorContext& where) {
  AddonData* d = data_of(env);
  if (!d || d->make_error.IsEmpty()) {
    // The addon was loaded without the JavaScript layer (setup() never
    // ran): still a clear error, never a null dereference.
    Napi::Error e = Napi::Error::New(env, std::string(syscall) + " failed: " + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.Set("syscall", Napi::String::New(env, syscall));
    throw e;
  }
  Napi::Value e = d->make_error.Call(
      {Napi::Number::New(env, err), Napi::String::New(env, syscall), context_to_js(env, where)});
  throw Napi::Error(env, e);
}

long check(Napi::Env env, long r, const char* syscall, const ErrorContext& where) {
  if (r < 0) throw_errno(env, static_cast<int>(-r), syscall, where);
  return r;
}

void require_main_thread(Napi::Env env, const char* what) {
  if (!on_main_thread())
    throw Napi::Error::New(env, std::string(what) +
                                    " acts on the whole process and may only be called from the main thread, "
                                    "not a worker thread");
}

ErrorContext on_fd(int fd, const Addr* a) {
  ErrorContext where;
  where.fd = fd;
  where.address = a;
  return where;
}

ErrorContext on_address(int fd, const Addr& a) { return on_fd(fd, &a); }

ErrorContext after_wait(int fd, const Wait& w, const Addr* a) {
  ErrorContext where = on_fd(fd, a);
  where.timed_out = w.timed_out;
  return where;
}

Napi::Uint8Array bytes_arg(const CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsTypedArray())
    type_error(info.Env(), "The \"data\" argument must be a Uint8Array");
  napi_typedarray_type t = info[i].As<Napi::TypedArray>().TypedArrayType();
  if (t != napi_uint8_array && t != napi_uint8_clamped_array)
    type_error(info.Env(), "The \"data\" argument must be a Uint8Array");
  return info[i].As<Napi::Uint8Array>();
}

Napi::Object accepted(Napi::Env env, int fd, const Addr& peer) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", fd);
  o.Set("address", addr_to_js(env, peer));
  return o;
}

RecvRoom::RecvRoom(Napi::Env env, int max, const char* syscall, const ErrorContext& where) {
  if (static_cast<size_t>(max) <= sizeof small_) return;
  big_.reset(static_cast<uint8_t*>(malloc(max)));
  if (!big_) throw_errno(env, ENOMEM, syscall, where);
  into_ = big_.get();
}

}  // namespace wtf::binding
