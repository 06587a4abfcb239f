// N-API wrappers of the signal calls (native/posix/signals.cc). Signal
// dispositions belong to the whole process: they are set from the main
// thread only, and only its JavaScript runs the handlers.
#include <signal.h>

#include "binding.h"
#include "contract.h"

namespace wtf::binding {

// (signal, disposition: a contract::Disposition, flags: SA_RESTART |
// SA_NOCLDSTOP | SA_NOCLDWAIT)
Value Sigaction(const CallbackInfo& info) {
  int sig = int_arg(info, 0, "signal", 1, NSIG - 1);
  int d = int_arg(info, 1, "disposition", contract::kDispositionPrevious, contract::kDispositionHandle);
  int f = flags_arg(info, 2, "flags", SA_RESTART | SA_NOCLDSTOP | SA_NOCLDWAIT);
  require_main_thread(info.Env(), "sigaction()");
  SigOptions o;
  o.restart = f & SA_RESTART, o.nocldstop = f & SA_NOCLDSTOP, o.nocldwait = f & SA_NOCLDWAIT;
  Disposition how = d == contract::kDispositionHandle   ? Disposition::kHandle
                    : d == contract::kDispositionIgnore ? Disposition::kIgnore
                                                        : Disposition::kPrevious;
  check(info.Env(), signals_set(sig, how, o), "sigaction");
  return info.Env().Undefined();
}

// Takes the pending signals: each number, then how many times the C handler
// caught it since the last take; none in a worker thread, whose JavaScript
// never runs signal handlers.
Value TakeSignals(const CallbackInfo& info) {
  if (!on_main_thread()) return Napi::Array::New(info.Env(), 0);
  int sigs[NSIG];
  int counts[NSIG];
  int n = signals_take(sigs, counts, NSIG);
  Napi::Array a = Napi::Array::New(info.Env(), 2 * n);
  for (int i = 0; i < n; i++) {
    a.Set(2 * i, sigs[i]);
    a.Set(2 * i + 1, counts[i]);
  }
  return a;
}

Value SignalRestarts(const CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), signals_restart_flag(int_arg(info, 0, "signal", 1, NSIG - 1)));
}

// Takes back, at once, signals that Node or libuv just took over (called
// right after process.on/removeListener for a signal event).
Value ReassertSignals(const CallbackInfo& info) {
  if (on_main_thread()) signals_reassert();
  return info.Env().Undefined();
}

// (keep) A promise that waits for a signal (the promise waitpid(-1) waits
// for SIGCHLD) keeps the event loop alive, as a pending fd watch does.
Value KeepSignalWatch(const CallbackInfo& info) {
  bool keep = bool_arg(info, 0, "keep");
  AddonData* d = data_of(info.Env());
  if (d && d->main_thread) keep_signal_watch(d, keep);
  return info.Env().Undefined();
}

}  // namespace wtf::binding
