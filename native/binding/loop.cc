// libuv plumbing: the handles an environment puts on its event loop, how
// they call into JavaScript, and how they are closed when the environment
// ends.
//
// - the main thread watches the signal wake fd (unref'd), so JavaScript
//   handlers run while the loop is idle, and takes back, at most every
//   kReassertMs of loop time, signals that libuv took over;
// - a forked child watches for its loop running dry (see below).
#include <signal.h>

#include "binding.h"
#include "contract.h"

namespace wtf::binding {

namespace {

// Calls a JavaScript hook from a libuv callback. The hooks hand their own
// errors to process.nextTick, and MakeCallback runs the tick queue before
// it returns: an error thrown there comes back here as a C++ exception,
// which must not unwind through libuv (std::terminate: an abort). It goes
// to Node as an uncaught exception instead, as a throw from any callback
// would: 'uncaughtException' listeners, or the error printed and exit 1.
void call_hook(AddonData* d, Napi::FunctionReference& fn) {
  Napi::Env env(d->env);
  Napi::HandleScope scope(env);
  napi_async_context ctx = nullptr;
  napi_async_init(env, nullptr, Napi::String::New(env, "what-the-fork"), &ctx);
  try {
    fn.MakeCallback(env.Global(), {}, ctx);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
  napi_async_destroy(env, ctx);
}

// How often, at most, the check handle takes signals back from libuv.
constexpr uint64_t kReassertMs = 10;

AddonData* owner(void* handle) { return static_cast<AddonData*>(static_cast<uv_handle_t*>(handle)->data); }

template <typename H>
H* new_handle(AddonData* d) {
  H* h = new H;
  h->data = d;
  d->open_handles++;
  return h;
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

// Whether anything but the watcher's own handles keeps the loop alive
// (active ref'd handles, requests such as fs or threadpool work, pending
// callbacks, handles being closed): uv_loop_alive with ours unref'd.
bool loop_dry(AddonData* d) {
  auto* prep = reinterpret_cast<uv_handle_t*>(d->drain);
  auto* idle = reinterpret_cast<uv_handle_t*>(d->drain_idle);
  uv_unref(prep);
  uv_unref(idle);
  bool alive = uv_loop_alive(d->loop) != 0;
  uv_ref(prep);
  uv_ref(idle);
  return !alive;
}

void on_drain_prepare(uv_prepare_t* h) {
  AddonData* d = owner(h);
  bool dry = loop_dry(d);
  if (!dry || !d->drain_suspect) {
    d->drain_suspect = dry;
    if (dry)
      uv_idle_start(d->drain_idle, [](uv_idle_t*) {});
    else
      uv_idle_stop(d->drain_idle);
    return;
  }
  d->drain_suspect = false;
  uv_idle_stop(d->drain_idle);
  d->drain_phase[0] = contract::kDrainBeforeExit;
  call_hook(d, d->on_drain);  // 'beforeExit'; its ticks and microtasks ran
  if (loop_dry(d)) {
    d->drain_phase[0] = contract::kDrainExit;
    call_hook(d, d->on_drain);  // does not return unless JavaScript refused
  }
  d->drain_phase[0] = contract::kDrainIdle;
}

// The last handle closed: the environment may end now.
void closed_one(AddonData* d) {
  if (--d->open_handles > 0) return;
  if (d->on_all_closed) d->on_all_closed(d);
}

template <typename H>
void close_one(H*& h) {
  if (!h) return;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* closed) {
    AddonData* d = owner(closed);
    delete reinterpret_cast<H*>(closed);
    closed_one(d);
  });
  h = nullptr;
}

}  // namespace

void start_signal_watch(AddonData* d) {
  // The loop watches the wake fd, unref'd, so handlers run while idle.
  d->wake = new_handle<uv_poll_t>(d);
  uv_poll_init(d->loop, d->wake, signals_wake_fd());
  uv_poll_start(d->wake, UV_READABLE, [](uv_poll_t* h, int, int) {
    AddonData* data = owner(h);
    call_hook(data, data->on_signal);
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(d->wake));
  // Take back signals that libuv took over: at a turn of the loop, once
  // kReassertMs have passed since the last time. Each handled signal costs
  // a sigaction(2) to look at, which a busy server would otherwise pay on
  // every turn; a SIGCHLD missed meanwhile is recovered (signals.cc).
  d->reassert = new_handle<uv_check_t>(d);
  uv_check_init(d->loop, d->reassert);
  uv_check_start(d->reassert, [](uv_check_t* h) {
    AddonData* data = owner(h);
    uint64_t now = uv_now(data->loop);
    if (now - data->reasserted_at < kReassertMs) return;
    data->reasserted_at = now;
    signals_reassert();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(d->reassert));
}

void keep_signal_watch(AddonData* d, bool keep) {
  if (!d->wake) return;
  if (keep)
    d->wake_keepers++;
  else if (d->wake_keepers > 0)
    d->wake_keepers--;
  auto* h = reinterpret_cast<uv_handle_t*>(d->wake);
  if (d->wake_keepers > 0)
    uv_ref(h);
  else
    uv_unref(h);
}

void start_drain_watch(AddonData* d) {
  if (!d->drain) {
    d->drain = new_handle<uv_prepare_t>(d);
    d->drain_idle = new_handle<uv_idle_t>(d);
    uv_prepare_init(d->loop, d->drain);
    uv_idle_init(d->loop, d->drain_idle);
  }
  uv_prepare_start(d->drain, on_drain_prepare);
}

void handle_closed(AddonData* d) { closed_one(d); }

void close_handles(AddonData* d, void (*done)(AddonData*)) {
  d->on_all_closed = done;
  if (d->open_handles == 0) {
    close_fd_watches(d);  // frees the state; no handle of its own is open
    return done(d);
  }
  close_fd_watches(d);
  close_one(d->wake);
  close_one(d->reassert);
  close_one(d->drain);
  close_one(d->drain_idle);
}

// Returns the phase word (the same one every call). With `start` it also
// starts the watcher; a forked child has it started by fork() itself.
Value WatchLoopDrain(const CallbackInfo& info) {
  AddonData* d = data_of(info.Env());
  if (!d) throw Napi::Error::New(info.Env(), "watchLoopDrain: setup() has not run");
  require_main_thread(info.Env(), "watchLoopDrain()");
  if (info.Length() == 0 || info[0].ToBoolean()) start_drain_watch(d);
  if (d->drain_view.IsEmpty()) {
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), d->drain_phase, sizeof d->drain_phase);
    d->drain_view = Napi::Persistent(Napi::Int32Array::New(info.Env(), 1, ab, 0));
  }
  return d->drain_view.Value();
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
    if (!(seen.sa_flags & SA_SIGINFO)) signals_set_libuv_handler(seen.sa_handler);
    uv_signal_stop(probe);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(probe),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  sigaction(sig, &before, nullptr);
}

}  // namespace wtf::binding
