// Processes: fork, waitpid, kill, _exit, sleep.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <vector>

#include "posix.h"

namespace wtf {

int sys_waitpid(int pid, int options, int* status) {
  BlockingScope scope;
  // WNOHANG never waits, so it needs no signal check.
  if (options & WNOHANG) {
    int r = waitpid(pid, status, options);
    return r < 0 ? -errno : r;
  }
  signals_reassert();
  // Waiting for one child's exit: a pidfd (Linux 5.3) turns it into an fd
  // to poll beside the signal wake fd, so a signal that lands just before
  // the wait still ends it. A pidfd only reports exits, so stops and
  // continues (WUNTRACED, WCONTINUED), groups and "any child" use the plain
  // call below, which a signal landing in the instructions before it does
  // not interrupt (docs/signals.md, known limits).
  if (pid > 0 && !(options & (WUNTRACED | WCONTINUED))) {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
      int r;
      for (;;) {
        r = waitpid(pid, status, options | WNOHANG);
        if (r != 0) {
          r = r < 0 ? -errno : r;
          break;
        }
        r = wait_ready(pidfd, POLLIN, -1);
        if (r < 0) break;
      }
      close(pidfd);
      return r;
    }
    // ENOSYS (an older kernel), EMFILE, or ESRCH (no such process: the
    // plain call reports ECHILD).
  }
  int r = signals_check();
  if (r < 0) return r;
  r = waitpid(pid, status, options);
  return r < 0 ? -errno : r;
}

int sys_kill(int pid, int sig) { return kill(pid, sig) < 0 ? -errno : 0; }

// prctl(2) PR_SET_PDEATHSIG: `sig` (0: none) when the thread that forked us ends.
int sys_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0 ? -errno : 0; }

// prctl(2) PR_SET_CHILD_SUBREAPER: orphaned descendants are re-parented here, not to init.
int sys_set_child_subreaper(bool on) {
  return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0 ? -errno : 0;
}

void sys_exit_now(int code) { _exit(code); }

int sys_execve(const char* path, char* const argv[], char* const envp[]) {
  // Node marks fds 0-2 close-on-exec at start-up; a program exec'd from C
  // inherits them, and so does this one.
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  execve(path, argv, envp);
  return -errno;
}

static double now_ms() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int sys_sleep(double ms, double* left_ms) {
  BlockingScope scope;
  double deadline = now_ms() + ms;
  for (;;) {
    double left = deadline - now_ms();
    if (left <= 0) return 0;
    int r = wait_ready(-1, 0, static_cast<int>(std::ceil(std::min(left, 2e9))));
    if (r == -EINTR) {
      *left_ms = std::max(0.0, deadline - now_ms());
      return -EINTR;
    }
  }
}

bool on_main_thread() { return syscall(SYS_gettid) == getpid(); }

// ---- making V8's heap copyable -------------------------------------------
//
// Node's Linux builds have V8 mark the pages it maps MADV_DONTFORK; a child
// would have no heap and die on its first instruction of JavaScript. Before
// every fork we mark everything MADV_DOFORK again. One madvise over a wide
// range covers every mapping in it (holes only make it report ENOMEM at the
// end), but it stops with EINVAL at VM_IO mappings such as [vvar], so the
// address space is cut around those, found once in /proc/self/maps.

namespace {
struct Range {
  uintptr_t lo, hi;
};
std::vector<Range> sweep_ranges;
constexpr uintptr_t kUserTop = 0x800000000000ULL;  // 47-bit user space

template <typename Fn>
void each_mapping(Fn fn) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char name[256] = "";
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &lo, &hi, name) >= 2) fn(lo, hi, name);
  }
  fclose(f);
}

void find_sweep_ranges() {
  uintptr_t from = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  each_mapping([&](uintptr_t lo, uintptr_t hi, const char* name) {
    // [vvar], [vvar_vclock], [vdso], [vsyscall]: leave them out.
    if (strncmp(name, "[v", 2) != 0 || lo >= kUserTop) return;
    if (lo > from) sweep_ranges.push_back({from, lo});
    from = hi;
  });
  if (from < kUserTop) sweep_ranges.push_back({from, kUserTop});
}

// The slow path: one madvise per mapping.
void sweep_each_mapping() {
  each_mapping([](uintptr_t lo, uintptr_t hi, const char* name) {
    if (strncmp(name, "[v", 2) == 0) return;
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DOFORK);
  });
}
}  // namespace

int mark_heap_forkable() {
  if (sweep_ranges.empty()) find_sweep_ranges();
  for (const Range& r : sweep_ranges) {
    if (madvise(reinterpret_cast<void*>(r.lo), r.hi - r.lo, MADV_DOFORK) == 0 || errno == ENOMEM) continue;
    sweep_each_mapping();
    return 1;
  }
  return 0;
}

// Node leaves a stdout/stderr pipe non-blocking and queues in libuv what the
// pipe cannot take at once; _exit(2) would drop that queue. The child
// reopens the pipe through /proc (a new open file description, so the
// parent's O_NONBLOCK stays as it is), clears O_NONBLOCK on it and puts it in
// place: every write then reaches the pipe before write() returns. Files and
// terminals are written synchronously by Node already.
void make_stdio_blocking(int mask) {
  for (int fd = 1; fd <= 2; fd++) {
    if (!(mask & fd)) continue;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) continue;
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    // O_NONBLOCK for open() only: a pipe without a reader fails at once.
    int own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (own < 0) continue;
    int fl = fcntl(own, F_GETFL);
    if (fl >= 0 && fcntl(own, F_SETFL, fl & ~O_NONBLOCK) == 0) dup2(own, fd);
    close(own);
  }
}

// The fork sequence. Every signal is blocked across fork() so that no
// handler runs in the child before it has reset its dispositions and has an
// event loop of its own; then the mask is restored on both sides.
int fork_process(void (*child_setup)(void*), void* arg) {
  mark_heap_forkable();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  int err = errno;
  if (pid == 0) {
    signals_after_fork_child();
    child_setup(arg);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid < 0 ? -err : pid;
}

}  // namespace wtf
