// Readiness from the event loop, for the promise API: one uv_poll_t per fd,
// started only while a call waits on that fd, stopped when none does, and
// closed when the fd is closed through this package or the environment
// ends. The handle is freed in its close callback, and libuv never calls a
// closed handle's poll callback, so no callback can reach freed memory.
//
// JavaScript keeps the waiters (lib/promises/readiness.ts); this file only
// tells it "fd is ready for these events" through one hook.
#include <errno.h>
#include <fcntl.h>

#include <unordered_map>

#include "binding.h"
#include "contract.h"

namespace wtf::binding {

struct FdWatch {
  uv_poll_t handle;
  AddonData* data;
  int fd;
};

struct PollState {
  std::unordered_map<int, FdWatch*> watches;
  Napi::FunctionReference on_ready;  // (fd, status, events) => void
  napi_async_context ctx = nullptr;
};

namespace {

PollState* state_of(Napi::Env env, const char* what) {
  AddonData* d = data_of(env);
  if (!d) throw Napi::Error::New(env, std::string(what) + ": setup() has not run");
  if (!d->poll) d->poll = new PollState;
  return d->poll;
}

void on_poll(uv_poll_t* h, int status, int events) {
  auto* w = static_cast<FdWatch*>(h->data);
  AddonData* d = w->data;
  PollState* ps = d->poll;
  if (!ps || ps->on_ready.IsEmpty()) return;
  napi_env env = d->env;
  // A hang-up or an error reads as "ready": the call tried again reports it.
  int ready = (events & (UV_READABLE | UV_DISCONNECT) ? contract::kPollReadable : 0) |
              (events & UV_WRITABLE ? contract::kPollWritable : 0);
  // The plain C calls, whose failures are statuses: a worker being
  // terminated fails them all, and no C++ exception may leave a libuv
  // callback. JavaScript may release this watch from inside the hook;
  // nothing here touches `w` after the call.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[3], global, fn, result;
  if (napi_create_int32(env, w->fd, &argv[0]) == napi_ok &&
      napi_create_int32(env, status, &argv[1]) == napi_ok &&
      napi_create_int32(env, ready, &argv[2]) == napi_ok && napi_get_global(env, &global) == napi_ok &&
      napi_get_reference_value(env, ps->on_ready, &fn) == napi_ok && fn != nullptr)
    napi_make_callback(env, ps->ctx, global, fn, 3, argv, &result);
  napi_close_handle_scope(env, scope);
}

void close_watch(FdWatch* w) {
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), [](uv_handle_t* h) {
    auto* closed = static_cast<FdWatch*>(h->data);
    AddonData* d = closed->data;
    delete closed;
    handle_closed(d);
  });
}

// A new watch for `fd`. uv_poll_init makes the fd non-blocking; the flag
// belongs to the open file, which the blocking calls and forked children
// share, so it is put back as it was.
FdWatch* new_watch(Napi::Env env, AddonData* d, int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    throw_errno(env, errno, "fcntl", [&] {
      ErrorContext c;
      c.fd = fd;
      return c;
    }());
  auto* w = new FdWatch;
  w->data = d;
  w->fd = fd;
  w->handle.data = w;
  int r = uv_poll_init(d->loop, &w->handle, fd);
  if (r != 0) {
    delete w;
    ErrorContext where;
    where.fd = fd;
    throw_errno(env, -r, "epoll_ctl", where);
  }
  if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl);
  d->open_handles++;
  return w;
}

}  // namespace

// (onReady): the hook the loop calls with (fd, status, events).
Value PollHook(const CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction())
    type_error(info.Env(), "pollHook(onReady) takes a function");
  PollState* ps = state_of(info.Env(), "pollHook");
  ps->on_ready = Napi::Persistent(info[0].As<Napi::Function>());
  if (!ps->ctx)
    napi_async_init(info.Env(), nullptr, Napi::String::New(info.Env(), "what-the-fork:poll"), &ps->ctx);
  return info.Env().Undefined();
}

// (fd, events): watch `fd` for POLL_READABLE | POLL_WRITABLE; 0 stops the
// watch and keeps the handle for the next wait.
Value PollWatch(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fd_arg(info);
  int events = flags_arg(info, 1, "events", contract::kPollReadable | contract::kPollWritable);
  PollState* ps = state_of(env, "pollWatch");
  AddonData* d = data_of(env);
  auto it = ps->watches.find(fd);
  if (events == 0) {
    if (it != ps->watches.end()) uv_poll_stop(&it->second->handle);
    return env.Undefined();
  }
  // A fd closed behind this package's back must not reach the loop.
  if (fcntl(fd, F_GETFD) < 0) {
    ErrorContext where;
    where.fd = fd;
    throw_errno(env, errno, "fcntl", where);
  }
  FdWatch* w = it != ps->watches.end() ? it->second : (ps->watches[fd] = new_watch(env, d, fd));
  int uv_events = (events & contract::kPollReadable ? UV_READABLE | UV_DISCONNECT : 0) |
                  (events & contract::kPollWritable ? UV_WRITABLE : 0);
  int r = uv_poll_start(&w->handle, uv_events, on_poll);
  if (r != 0) {
    ErrorContext where;
    where.fd = fd;
    throw_errno(env, -r, "epoll_ctl", where);
  }
  return env.Undefined();
}

// (fd): closes the watch of `fd`, before the fd itself is closed (a watched
// fd that is closed could make the loop watch whatever reuses its number).
// Returns whether there was one.
Value PollRelease(const CallbackInfo& info) {
  int fd = fd_arg(info);
  PollState* ps = state_of(info.Env(), "pollRelease");
  auto it = ps->watches.find(fd);
  if (it == ps->watches.end()) return Napi::Boolean::New(info.Env(), false);
  FdWatch* w = it->second;
  ps->watches.erase(it);
  close_watch(w);
  return Napi::Boolean::New(info.Env(), true);
}

void release_fd_watch(AddonData* d, int fd) {
  if (!d || !d->poll) return;
  auto it = d->poll->watches.find(fd);
  if (it == d->poll->watches.end()) return;
  FdWatch* w = it->second;
  d->poll->watches.erase(it);
  close_watch(w);
}

// () => { watches, active }: how many fds have a watch, how many of those
// are started. For tests that look for leaks.
Value PollStats(const CallbackInfo& info) {
  PollState* ps = state_of(info.Env(), "pollStats");
  int active = 0;
  for (auto& [fd, w] : ps->watches)
    active += uv_is_active(reinterpret_cast<uv_handle_t*>(&w->handle)) ? 1 : 0;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("watches", static_cast<double>(ps->watches.size()));
  o.Set("active", active);
  return o;
}

void close_fd_watches(AddonData* d) {
  PollState* ps = d->poll;
  if (!ps) return;
  d->poll = nullptr;
  ps->on_ready.Reset();
  if (ps->ctx) napi_async_destroy(d->env, ps->ctx);
  for (auto& [fd, w] : ps->watches) close_watch(w);
  delete ps;
}

}  // namespace wtf::binding
