// The addon's entry: the state each environment keeps, setup() (the
// JavaScript layer hands over its hooks), teardown, and the one-screen list
// of exported functions.
#include "binding.h"

#include <utility>

namespace wtf::binding {

AddonData* data_of(Napi::Env env) {
  void* d = nullptr;
  if (napi_get_instance_data(env, &d) != napi_ok) return nullptr;
  return static_cast<AddonData*>(d);
}

namespace {

// The environment is ending (a worker thread exits, or the process does):
// drop the references into its heap at once, close every libuv handle it
// opened, and let it go once they are closed.
void on_teardown(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* d = static_cast<AddonData*>(arg);
  d->make_error.Reset();
  d->on_signal.Reset();
  d->on_drain.Reset();
  d->pending_view.Reset();
  d->drain_view.Reset();
  d->teardown_hook = hook;
  napi_set_instance_data(d->env, nullptr, nullptr, nullptr);
  close_handles(d, [](AddonData* done) {
    napi_remove_async_cleanup_hook(done->teardown_hook);
    delete done;
  });
}

// The "signal pending" word JavaScript reads without a call: the process's
// own on the main thread, a private one that is never set in a worker.
Napi::Int32Array pending_word(Napi::Env env, AddonData* d) {
  int32_t* word = d->main_thread ? signals_state_word() : d->private_word;
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, word, sizeof(int32_t) * 2);
  return Napi::Int32Array::New(env, 2, ab, 0);
}

// (makeError, onSignal, onDrain) => the pending word.
Value Setup(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsFunction() || !info[1].IsFunction() || !info[2].IsFunction())
    type_error(env, "setup(makeError, onSignal, onDrain) takes three functions");
  AddonData* d = data_of(env);
  if (!d) {
    d = new AddonData;
    d->env = env;
    d->main_thread = on_main_thread();
    napi_get_uv_event_loop(env, &d->loop);
    napi_set_instance_data(env, d, nullptr, nullptr);
    napi_async_cleanup_hook_handle hook = nullptr;
    napi_add_async_cleanup_hook(env, on_teardown, d, &hook);
    if (d->main_thread) {
      // Signal dispositions belong to the process; the main thread's
      // JavaScript runs the handlers.
      signals_init();
      probe_libuv_handler(d->loop);
      start_signal_watch(d);
    }
    d->pending_view = Napi::Persistent(pending_word(env, d));
  }
  // Loaded again in the same environment (a test runner that gives each
  // test file a module registry of its own): the newest JavaScript layer
  // takes the hooks over, so the error classes thrown are the ones it
  // exports.
  d->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  d->on_signal = Napi::Persistent(info[1].As<Napi::Function>());
  d->on_drain = Napi::Persistent(info[2].As<Napi::Function>());
  return d->pending_view.Value();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // clang-format off
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
    {"setup", Setup},
    // sockets
    {"socket", Socket},           {"bind", Bind},               {"listen", Listen},
    {"accept", Accept},           {"connect", Connect},         {"send", Send},
    {"recv", Recv},               {"shutdown", Shutdown},       {"close", Close},
    {"getsockname", GetSockName}, {"getpeername", GetPeerName}, {"socketpair", SocketPair},
    {"pipe", Pipe},               {"dup", Dup},                 {"dup2", Dup2},
    {"fdFlag", FdFlag},           {"setsockopt", SetSockOpt},   {"getsockopt", GetSockOpt},
    {"socketTimeout", SocketTimeout}, {"dropSyns", DropSyns},
    {"attachDropFilter", AttachDropFilter},
    // processes
    {"getpid", GetPid},           {"getppid", GetPpid},         {"sleep", Sleep},
    {"fork", Fork},               {"markHeapForkable", MarkHeapForkable},
    {"_exit", Exit},              {"execve", Execve},           {"waitpid", WaitPid},
    {"kill", Kill},               {"setParentDeathSignal", SetParentDeathSignal},
    {"setChildSubreaper", SetChildSubreaper},
    // signals
    {"sigaction", Sigaction},     {"takeSignals", TakeSignals}, {"signalRestarts", SignalRestarts},
    {"reassertSignals", ReassertSignals}, {"keepSignalWatch", KeepSignalWatch},
    // the event loop
    {"watchLoopDrain", WatchLoopDrain},
    // the promise API: readiness watches, calls that never wait
    {"pollHook", PollHook},       {"pollWatch", PollWatch},     {"pollRelease", PollRelease},
    {"pollStats", PollStats},     {"acceptNow", AcceptNow},     {"connectNow", ConnectNow},
    {"connectResult", ConnectResult}, {"sendNow", SendNow},     {"recvNow", RecvNow},
    {"pidfdOpen", PidfdOpen},
    // messages with fds (SCM_RIGHTS) or addresses
    {"sendmsg", SendMsg},         {"recvmsg", RecvMsg},
  };
  // clang-format on
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace wtf::binding

namespace {
Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return wtf::binding::Init(env, exports); }
}  // namespace

NODE_API_MODULE(what_the_fork, InitAddon)
