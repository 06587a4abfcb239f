// What the files of native/binding/ share: the state each environment (the
// main thread, every worker thread) keeps, argument decoding, the error
// bridge, and the list of functions the addon exports. The files here are
// the only code that touches N-API; each wrapper checks its arguments again
// (JavaScript already did, with better messages), calls one function of the
// plain layer (native/posix/posix.h) and turns -errno into the error class
// JavaScript handed over at setup().
#pragma once

#include <napi.h>
#include <stdlib.h>
#include <uv.h>

#include <memory>
#include <string>

#include "../posix/posix.h"

namespace wtf::binding {

using Napi::CallbackInfo;
using Napi::Value;

// ---- state per environment (binding.cc) --------------------------------

// The promise API's readiness watches (poll.cc).
struct PollState;

// One per environment that loaded the addon. The main thread's also owns
// what is process-wide by nature: the signal wake fd's watcher, the
// reassert check and, in a forked child, the loop-drain watcher (loop.cc).
struct AddonData {
  napi_env env = nullptr;
  bool main_thread = false;
  uv_loop_t* loop = nullptr;
  Napi::FunctionReference make_error;  // (errno, syscall, info) => Error
  Napi::FunctionReference on_signal;   // () => void: run pending handlers
  Napi::FunctionReference on_drain;    // () => void: a forked child's loop ran dry
  Napi::Reference<Napi::Int32Array> pending_view;
  Napi::Reference<Napi::Int32Array> drain_view;
  int32_t private_word[2] = {0, 0};  // a worker's "pending" word: never set
  int32_t drain_phase[1] = {0};      // contract::kDrain*
  // libuv handles this environment opened (loop.cc); closed at teardown.
  uv_poll_t* wake = nullptr;
  int wake_keepers = 0;  // waits that keep the loop alive on the wake fd
  uv_check_t* reassert = nullptr;
  uint64_t reasserted_at = 0;  // the loop's time of the last reassert
  uv_prepare_t* drain = nullptr;
  uv_idle_t* drain_idle = nullptr;
  bool drain_suspect = false;
  PollState* poll = nullptr;  // one uv_poll_t per fd a promise waits on
  int open_handles = 0;
  napi_async_cleanup_hook_handle teardown_hook = nullptr;
  void (*on_all_closed)(AddonData*) = nullptr;
};

// This environment's state, or null before setup() ran.
AddonData* data_of(Napi::Env env);

// ---- arguments (args.cc) ------------------------------------------------

[[noreturn]] void type_error(Napi::Env env, const std::string& what);
[[noreturn]] void range_error(Napi::Env env, const std::string& what);
int32_t int_arg(const CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi);
int fd_arg(const CallbackInfo& info, size_t i = 0, const char* name = "fd");
bool bool_arg(const CallbackInfo& info, size_t i, const char* name);
// A bit mask that may hold only bits of `allowed`.
int flags_arg(const CallbackInfo& info, size_t i, const char* name, int allowed);
Addr addr_arg(const CallbackInfo& info, size_t i);
Napi::Object addr_to_js(Napi::Env env, const Addr& a);
Wait wait_arg(const CallbackInfo& info, size_t i);

// ---- the error bridge (args.cc) -----------------------------------------

// Where a failed call happened: everything a PosixError can name.
struct ErrorContext {
  int fd = -1;
  const Addr* address = nullptr;
  bool has_pid = false;
  int pid = 0;
  const char* path = nullptr;
  bool timed_out = false;
};

// Throws the error class JavaScript chose for `err` (positive errno).
[[noreturn]] void throw_errno(Napi::Env env, int err, const char* syscall, const ErrorContext& where = {});
// Throws for r < 0 (a -errno); returns r otherwise.
long check(Napi::Env env, long r, const char* syscall, const ErrorContext& where = {});
// A call on `fd` failed (to or from `a`).
ErrorContext on_fd(int fd, const Addr* a = nullptr);
ErrorContext on_address(int fd, const Addr& a);
// A call that may have waited failed: EAGAIN on a blocking fd was a timeout.
ErrorContext after_wait(int fd, const Wait& w, const Addr* a = nullptr);

// ---- what the socket calls share (args.cc) ------------------------------

// The bytes argument of a send: a Uint8Array (or Uint8ClampedArray).
Napi::Uint8Array bytes_arg(const CallbackInfo& info, size_t i);
// What accept returns: { fd, address }.
Napi::Object accepted(Napi::Env env, int fd, const Addr& peer);
// Room to receive up to `max` bytes in: 64 KiB on the stack, else malloc'd,
// which costs address space, not the pages nothing is written to, so a large
// maxBytes never means a JavaScript allocation of that size. Throws ENOMEM
// for `syscall` when malloc fails.
class RecvRoom {
 public:
  RecvRoom(Napi::Env env, int max, const char* syscall, const ErrorContext& where);
  RecvRoom(const RecvRoom&) = delete;
  RecvRoom& operator=(const RecvRoom&) = delete;
  uint8_t* data() { return into_; }

 private:
  uint8_t small_[64 * 1024];
  std::unique_ptr<uint8_t, void (*)(void*)> big_{nullptr, free};
  uint8_t* into_ = small_;
};

// ---- libuv plumbing (loop.cc) -------------------------------------------

// Starts the main thread's wake fd watcher and reassert check.
void start_signal_watch(AddonData* d);
// One more (keep) or one fewer wait that needs a signal to end: while there
// is any, the wake fd watcher keeps the loop alive.
void keep_signal_watch(AddonData* d, bool keep);
// Starts the forked child's loop-drain watcher.
void start_drain_watch(AddonData* d);
// Closes every handle this environment opened; `done` runs once all are
// closed (at once when there are none).
void close_handles(AddonData* d, void (*done)(AddonData*));
// A handle this environment counted in open_handles has closed.
void handle_closed(AddonData* d);
// Closes the readiness watch of `fd`, if there is one, before the fd is
// closed or replaced: the addon's close and dup2 do it whoever calls them,
// so the loop never watches whatever reuses the number (poll.cc).
void release_fd_watch(AddonData* d, int fd);
// Closes every readiness watch of the promise API (poll.cc).
void close_fd_watches(AddonData* d);
// Learns the address of libuv's signal handler (see signals.cc).
void probe_libuv_handler(uv_loop_t* loop);

// ---- the exported functions, by area ------------------------------------

// sockets.cc
Value Socket(const CallbackInfo& info);
Value Bind(const CallbackInfo& info);
Value Listen(const CallbackInfo& info);
Value AttachDropFilter(const CallbackInfo& info);
Value Accept(const CallbackInfo& info);
Value Connect(const CallbackInfo& info);
Value Send(const CallbackInfo& info);
Value Recv(const CallbackInfo& info);
Value Shutdown(const CallbackInfo& info);
Value Close(const CallbackInfo& info);
Value GetSockName(const CallbackInfo& info);
Value GetPeerName(const CallbackInfo& info);
Value SocketPair(const CallbackInfo& info);
Value Pipe(const CallbackInfo& info);
Value Dup(const CallbackInfo& info);
Value Dup2(const CallbackInfo& info);
Value FdFlag(const CallbackInfo& info);
Value SetSockOpt(const CallbackInfo& info);
Value GetSockOpt(const CallbackInfo& info);
Value SocketTimeout(const CallbackInfo& info);
Value DropSyns(const CallbackInfo& info);
// process.cc
Value GetPid(const CallbackInfo& info);
Value GetPpid(const CallbackInfo& info);
Value Sleep(const CallbackInfo& info);
Value Fork(const CallbackInfo& info);
Value MarkHeapForkable(const CallbackInfo& info);
Value Exit(const CallbackInfo& info);
Value Execve(const CallbackInfo& info);
Value WaitPid(const CallbackInfo& info);
Value Kill(const CallbackInfo& info);
Value SetParentDeathSignal(const CallbackInfo& info);
Value SetChildSubreaper(const CallbackInfo& info);
// signals.cc
Value Sigaction(const CallbackInfo& info);
Value TakeSignals(const CallbackInfo& info);
Value SignalRestarts(const CallbackInfo& info);
Value ReassertSignals(const CallbackInfo& info);
Value KeepSignalWatch(const CallbackInfo& info);
// loop.cc
Value WatchLoopDrain(const CallbackInfo& info);
// poll.cc
Value PollHook(const CallbackInfo& info);
Value PollWatch(const CallbackInfo& info);
Value PollRelease(const CallbackInfo& info);
Value PollStats(const CallbackInfo& info);
// nowait.cc
Value AcceptNow(const CallbackInfo& info);
Value ConnectNow(const CallbackInfo& info);
Value ConnectResult(const CallbackInfo& info);
Value SendNow(const CallbackInfo& info);
Value RecvNow(const CallbackInfo& info);
Value PidfdOpen(const CallbackInfo& info);
// fdpass.cc
Value SendMsg(const CallbackInfo& info);
Value RecvMsg(const CallbackInfo& info);
// constants.cc
Napi::Object Constants(Napi::Env env);

// The module's exports (binding.cc).
Napi::Object Init(Napi::Env env, Napi::Object exports);

// Refuses, with a clear error, a call that acts on the whole process
// (signal dispositions, fork, execve, _exit) from a worker thread.
void require_main_thread(Napi::Env env, const char* what);

}  // namespace wtf::binding
