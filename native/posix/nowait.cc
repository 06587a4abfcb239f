// The calls the promise API makes: each tries once and never waits. A call
// that would have to wait returns -EAGAIN (-EINPROGRESS for a connect that
// started); the event loop says when to try again. None of them is
// interrupted by a signal: there is no wait to interrupt.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every Linux architecture
#endif

namespace wtf {

namespace {
// Runs `io` with O_NONBLOCK set on the open file for this one call, when it
// was not set already: accept(2) and connect(2) take no MSG_DONTWAIT. The
// flag belongs to the open file, which forked children may share, so it is
// put back at once.
template <typename Io>
int once_nonblocking(int fd, Io io) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -errno;
  if (fl & O_NONBLOCK) {
    int r = io();
    return r < 0 ? -errno : r;
  }
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  int r = io();
  int e = errno;
  fcntl(fd, F_SETFL, fl);
  return r < 0 ? -e : r;
}

int again(int r) { return r == -EWOULDBLOCK ? -EAGAIN : r; }
}  // namespace

int nowait_accept(int fd, int flags, Addr* peer) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int c = once_nonblocking(fd, [&] { return accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, flags); });
  if (c >= 0) addr_decode(&ss, len, peer);
  return again(c);
}

int nowait_connect(int fd, const Addr& a) {
  sockaddr_storage ss;
  socklen_t len;
  int r = addr_encode(a, &ss, &len);
  if (r < 0) return r;
  return once_nonblocking(fd, [&] { return connect(fd, reinterpret_cast<sockaddr*>(&ss), len); });
}

int nowait_connect_result(int fd) {
  int err = 0;
  int r = sys_getsockopt_int(fd, SOL_SOCKET, SO_ERROR, &err);
  return r < 0 ? r : -err;
}

ssize_t nowait_send(int fd, const void* buf, size_t len, int flags) {
  ssize_t n = send(fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 ? again(-errno) : n;
}

ssize_t nowait_recv(int fd, void* buf, size_t len, int flags) {
  ssize_t n = recv(fd, buf, len, flags | MSG_DONTWAIT);
  return n < 0 ? again(-errno) : n;
}

int sys_pidfd_open(int pid) {
  long r = syscall(SYS_pidfd_open, pid, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

}  // namespace wtf
