// The blocking machinery of the plain layer: how a call that may wait waits.
// Every wait is a poll(2) on the fd beside the signal wake fd, so a handled
// signal (or one that landed just before the wait) ends it with -EINTR, and
// a deadline ends it with -ETIMEDOUT.
#include <errno.h>
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cmath>

#include "posix.h"

namespace wtf {

double now_ms() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int wait_ready(int fd, short events, int timeout_ms) {
  bool signals = signals_thread();
  if (signals) signals_reassert();
  double deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
  for (;;) {
    if (signals_check() < 0) return -EINTR;
    // poll(2) skips an entry whose fd is negative.
    pollfd p[2] = {{signals ? signals_wake_fd() : -1, POLLIN, 0}, {fd, events, 0}};
    int wait = deadline < 0 ? -1 : static_cast<int>(std::ceil(std::max(0.0, deadline - now_ms())));
    int n = poll(p, fd >= 0 ? 2 : 1, wait);
    // EINTR from a handler that is not ours (libuv's, installed with
    // SA_RESTART): the call we stand in for would have been restarted.
    if (n < 0 && errno == EINTR && signals_check() == 0) continue;
    if (n < 0) return -errno;
    if (n == 0) return -ETIMEDOUT;
    if (fd >= 0 && p[1].revents) return 0;
    if (signals_check() < 0) return -EINTR;
    // A wake-up whose signal was already taken: drain it and wait again.
    signals_drain_wake_fd();
  }
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

}  // namespace wtf
