// Signal handling that lets JavaScript see signals the way a C program does.
//
// The C handler only does async-signal-safe things: it counts the signal,
// sets the "something is pending" word that JavaScript reads, bumps an
// eventfd (which wakes both the event loop and any wait_ready() in progress),
// forwards the signal to the main thread when it landed on another thread
// while the main thread is blocked in one of our calls, and chains to the
// handler it replaced (libuv's, so process.on('SIGINT') keeps working).
// JavaScript handlers run later, on the main thread.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "posix.h"

namespace wtf {
namespace {

// What a forwarded copy carries in si_value, so the main thread can tell it
// from a signal of the same number that somebody else sent.
constexpr int kForwardMark = 0x77746621;

struct Slot {
  // How many times the handler caught the signal since JavaScript last took it.
  std::atomic<int> pending{0};
  // The handler we chain to (libuv's), or null. Read by the signal handler
  // on any thread while the main thread may change it, hence atomic rather
  // than a struct sigaction read field by field.
  std::atomic<void (*)(int)> chain_to{nullptr};
  bool installed = false;
  bool restart = false;
  struct sigaction ours;
  struct sigaction prev;  // what was there before us; restored on 'default'
};

Slot slots[NSIG];
int32_t state_word[2];  // [0]: a handled signal is pending
int wake_fd = -1;
pid_t main_tid = 0;
pthread_t main_thread;
bool main_thread_set = false;
pid_t main_pid = 0;
uid_t main_uid = 0;
std::atomic<int> in_blocking{0};

pid_t current_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void (*libuv_handler)(int) = nullptr;

// Only libuv's handler is chained to: it is what makes process.on('SIG...')
// listeners fire. Any other handler is replaced, as sigaction(2) in C
// would; Node's own SIGUSR1 handler, for one, would start the inspector.
void (*chain_target(const struct sigaction& prev))(int) {
  if (!(prev.sa_flags & SA_SIGINFO) && libuv_handler && prev.sa_handler == libuv_handler)
    return libuv_handler;
  return nullptr;
}

void chain(int sig) {
  void (*fn)(int) = slots[sig].chain_to.load();
  if (fn) fn(sig);
}

// Async-signal-safe: atomics and write(2) only. The order matters: the
// per-signal count first, then the word JavaScript and wait_ready() read,
// then the wake-up, so whoever sees the word or the wake-up finds the flag.
void record(int sig) {
  slots[sig].pending.fetch_add(1);
  __atomic_store_n(&state_word[0], 1, __ATOMIC_SEQ_CST);
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd, &one, sizeof one);
  (void)ignored;
}

// Sends `sig` to the main thread with a marked siginfo. A thread-directed
// signal can only be delivered to that thread, so it interrupts the
// syscall the main thread is blocked in (waitpid, connect).
bool forward_to_main(int sig) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = main_pid;
  si.si_uid = main_uid;
  si.si_value.sival_int = kForwardMark;
  return syscall(SYS_rt_tgsigqueueinfo, main_pid, main_tid, sig, &si) == 0;
}

bool is_forwarded(const siginfo_t* si) {
  return si && si->si_code == SI_QUEUE && si->si_pid == main_pid && si->si_value.sival_int == kForwardMark;
}

void on_signal(int sig, siginfo_t* si, void*) {
  int saved = errno;
  if (current_tid() == main_tid) {
    // A copy another thread forwarded was recorded there already; recording
    // it again could run the JavaScript handler twice for one signal if it
    // ran in between. The chaining was left to us.
    if (!is_forwarded(si)) record(sig);
    chain(sig);
  } else {
    record(sig);
    // The main thread is blocked in a call that no eventfd wakes: make the
    // signal land there, and let it chain, so libuv sees the signal once.
    if (!(in_blocking.load() && forward_to_main(sig))) chain(sig);
  }
  errno = saved;
}

bool is_ours(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == on_signal;
}

// True when a child has exited and nobody reaped it yet (peeked, not reaped).
bool zombie_child() {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

}  // namespace

void signals_set_libuv_handler(void (*fn)(int)) { libuv_handler = fn; }

void signals_init() {
  if (wake_fd >= 0) return;
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  main_tid = current_tid();
  main_thread = pthread_self();
  main_thread_set = true;
  main_pid = getpid();
  main_uid = getuid();
}

int signals_set(int sig, Disposition d, const SigOptions& o) {
  if (sig == deadline_signal()) return -EINVAL;
  Slot& s = slots[sig];
  if (d == Disposition::kPrevious) {
    if (!s.installed) return 0;
    s.installed = false;
    s.restart = false;
    int r = sigaction(sig, &s.prev, nullptr) < 0 ? -errno : 0;
    s.chain_to.store(nullptr);
    return r;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  if (d == Disposition::kHandle) {
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | (o.restart ? SA_RESTART : 0) | (o.nocldstop ? SA_NOCLDSTOP : 0) |
                  (o.nocldwait ? SA_NOCLDWAIT : 0);
  } else {
    sa.sa_handler = d == Disposition::kIgnore ? SIG_IGN : SIG_DFL;
  }
  struct sigaction old;
  if (sigaction(sig, nullptr, &old) < 0) return -errno;
  // The chain target is set before our handler can run with it.
  const struct sigaction& before = s.installed ? s.prev : old;
  s.chain_to.store(chain_target(before));
  if (sigaction(sig, &sa, nullptr) < 0) return -errno;
  if (!s.installed) s.prev = old;  // remember the disposition before us once
  s.installed = true;
  s.restart = o.restart;
  s.ours = sa;
  return 0;
}

int signals_restart_flag(int sig) { return slots[sig].restart ? 1 : 0; }

int signals_take(int* out, int* counts, int n) {
  // Word first, flags after: a signal landing in between leaves the word set
  // (at worst a wake-up that finds nothing), never a flag nobody looks at.
  __atomic_store_n(&state_word[0], 0, __ATOMIC_SEQ_CST);
  signals_drain_wake_fd();
  int k = 0;
  for (int sig = 1; sig < NSIG && k < n; sig++) {
    int caught = slots[sig].pending.exchange(0);
    if (caught > 0) {
      out[k] = sig;
      counts[k++] = caught;
    }
  }
  return k;
}

int signals_wake_fd() { return wake_fd; }

void signals_drain_wake_fd() {
  uint64_t n;
  while (read(wake_fd, &n, sizeof n) > 0) {
  }
}
int32_t* signals_state_word() { return state_word; }

void signals_reassert() {
  for (int sig = 1; sig < NSIG; sig++) {
    Slot& s = slots[sig];
    if (!s.installed || !is_ours(s.ours)) continue;
    struct sigaction cur;
    if (sigaction(sig, nullptr, &cur) < 0 || is_ours(cur)) continue;
    // libuv (or Node) replaced us: chain to its handler from now on, so its
    // listeners keep working, and take the signal back. 'default' then
    // restores what is there now (libuv's handler, or the SIG_DFL libuv put
    // back), as Node alone would have it.
    s.prev = cur;
    s.chain_to.store(chain_target(cur));
    sigaction(sig, &s.ours, nullptr);
    // While we were out, a SIGCHLD went to libuv (which only reaps its own
    // children) or to SIG_DFL (discarded). A child left unreaped is the
    // trace of it: treat it as the signal we missed.
    if (sig == SIGCHLD && zombie_child()) record(sig);
  }
}

void signals_after_fork_child() {
  for (int sig = 1; sig < NSIG; sig++) {
    Slot& s = slots[sig];
    s.pending.store(0);
    if (s.installed) sigaction(sig, &s.prev, nullptr);
    s.chain_to.store(nullptr);
    s.installed = false;
    s.restart = false;
  }
  state_word[0] = 0;
  in_blocking.store(0);
  main_tid = current_tid();
  main_pid = getpid();
  // A wake fd of the child's own, at the same number so the event loop's
  // watcher (re-registered by uv_loop_fork) keeps pointing at it.
  int fresh = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fresh >= 0 && wake_fd >= 0) {
    dup3(fresh, wake_fd, O_CLOEXEC);
    close(fresh);
  }
}

// pthread_self() reads thread-local storage (no system call), and a forked
// child's one thread keeps the value of the thread that forked.
bool signals_thread() { return main_thread_set && pthread_equal(pthread_self(), main_thread); }

BlockingScope::BlockingScope() : counted(signals_thread()) {
  if (counted) in_blocking.fetch_add(1);
}
BlockingScope::~BlockingScope() {
  if (counted) in_blocking.fetch_sub(1);
}

int signals_check() {
  if (!signals_thread()) return 0;
  return __atomic_load_n(&state_word[0], __ATOMIC_SEQ_CST) ? -EINTR : 0;
}

}  // namespace wtf
