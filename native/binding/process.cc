// N-API wrappers of the process calls (native/posix/process.cc, fork.cc),
// and the forked child's set-up.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "binding.h"

namespace wtf::binding {

namespace {
ErrorContext on_pid(int pid) {
  ErrorContext where;
  where.has_pid = true;
  where.pid = pid;
  return where;
}

// Everything the child needs before it runs JavaScript again, done here in
// C++: each step in JavaScript would be compiled afresh in every child.
struct ChildPlan {
  AddonData* data = nullptr;
  uint64_t ignore = 0;  // bit n: the child starts with signal n ignored
};

// Runs in the child with every signal still blocked.
void child_setup(void* arg) {
  auto* plan = static_cast<ChildPlan*>(arg);
  // The child's event loop gets an epoll instance of its own; until then it
  // would be watching (and stealing events from) the parent's.
  if (uv_loop_fork(plan->data->loop) != 0) sys_exit_now(70);
  make_stdio_blocking();
  // Still inside the blocked window: a signal already on its way is
  // ignored, not acted on, once the mask is restored.
  for (int sig = 1; sig < 64; sig++)
    if (plan->ignore & (1ULL << sig)) signals_set(sig, Disposition::kIgnore, {});
  start_drain_watch(plan->data);
}

std::vector<std::string> strings_arg(const CallbackInfo& info, size_t i, const char* name) {
  std::string what = std::string("The \"") + name + "\" argument must be an array of strings";
  if (i >= info.Length() || !info[i].IsArray()) type_error(info.Env(), what);
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsString()) type_error(info.Env(), what);
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

const char* status_kind(int st) {
  return WIFEXITED(st) ? "exited" : WIFSIGNALED(st) ? "signaled" : WIFSTOPPED(st) ? "stopped" : "continued";
}
}  // namespace

Value GetPid(const CallbackInfo& info) { return Napi::Number::New(info.Env(), getpid()); }
Value GetPpid(const CallbackInfo& info) { return Napi::Number::New(info.Env(), getppid()); }

// (ms): returns 0 when it slept the whole time, else the milliseconds left.
Value Sleep(const CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber())
    type_error(info.Env(), "The \"ms\" argument must be a number");
  double ms = info[0].As<Napi::Number>().DoubleValue(), left = 0;
  if (!(ms >= 0 && ms <= 1e12)) range_error(info.Env(), "The \"ms\" argument is out of range");
  int r = sys_sleep(ms, &left);
  return Napi::Number::New(info.Env(), r < 0 ? left : 0);
}

// (ignoreSignals?): signals the child ignores from its first instruction.
Value Fork(const CallbackInfo& info) {
  require_main_thread(info.Env(), "fork()");
  ChildPlan plan;
  plan.data = data_of(info.Env());
  if (!plan.data) throw Napi::Error::New(info.Env(), "fork: setup() has not run");
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsArray()) type_error(info.Env(), "The \"ignoreSignals\" argument must be an array");
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 1 && d < 64) || d != std::floor(d) || d == SIGKILL || d == SIGSTOP)
        range_error(info.Env(), "The \"ignoreSignals\" argument holds an invalid signal");
      plan.ignore |= 1ULL << static_cast<int>(d);
    }
  }
  int pid = check(info.Env(), fork_process(child_setup, &plan), "fork");
  return Napi::Number::New(info.Env(), pid);
}

Value MarkHeapForkable(const CallbackInfo& info) {
  return Napi::Number::New(info.Env(), mark_heap_forkable());
}

Value Exit(const CallbackInfo& info) {
  int code = int_arg(info, 0, "code", 0, 255);
  require_main_thread(info.Env(), "_exit()");
  sys_exit_now(code);
}

// (path, argv, envp as "NAME=value" strings): replaces the process image.
Value Execve(const CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    type_error(info.Env(), "The \"path\" argument must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = strings_arg(info, 1, "argv"), env = strings_arg(info, 2, "env");
  require_main_thread(info.Env(), "execve()");
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  int r = sys_execve(path.c_str(), argv.data(), envp.data());
  ErrorContext where;
  where.path = path.c_str();
  throw_errno(info.Env(), -r, "execve", where);
}

Value WaitPid(const CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = int_arg(info, 0, "pid", INT32_MIN + 1, INT32_MAX);
  int options = flags_arg(info, 1, "options", WNOHANG | WUNTRACED | WCONTINUED);
  int status = 0;
  int r = check(env, sys_waitpid(pid, options, &status), "waitpid", on_pid(pid));
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
  int sig = int_arg(info, 1, "signal", 0, NSIG - 1);
  check(info.Env(), sys_kill(pid, sig), "kill", on_pid(pid));
  return info.Env().Undefined();
}

// (signal): prctl(PR_SET_PDEATHSIG); 0 clears it.
Value SetPdeathsig(const CallbackInfo& info) {
  int sig = int_arg(info, 0, "signal", 0, NSIG - 1);
  check(info.Env(), sys_set_pdeathsig(sig), "prctl");
  return info.Env().Undefined();
}

}  // namespace wtf::binding
