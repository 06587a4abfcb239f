// Processes: waitpid, kill, _exit, execve (the fork sequence is fork.cc).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posix.h"

namespace wtf {

int sys_waitpid(int pid, int options, int* status) {
  BlockingScope scope;
  // WNOHANG never waits, so it needs no signal check.
  if (options & WNOHANG) {
    int r = waitpid(pid, status, options);
    return r < 0 ? -errno : r;
  }
  if (signals_thread()) signals_reassert();
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

int sys_set_pdeathsig(int sig) {
  return prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) < 0 ? -errno : 0;
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

}  // namespace wtf
