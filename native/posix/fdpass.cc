// sendmsg(2) and recvmsg(2): bytes with fds (SCM_RIGHTS) over UNIX sockets,
// and with an address (sendto/recvfrom) over datagram sockets. Each call
// either never waits (w == nullptr: -EAGAIN instead) or waits as the other
// blocking calls do, in wait_ready beside the signal wake fd.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "posix.h"

namespace wtf {

namespace {
bool blocking_fd(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && !(fl & O_NONBLOCK);
}

// Tries `io` without waiting; with `w`, on a blocking fd, waits for
// readiness and tries again until it succeeds, fails, times out or a
// handled signal arrives.
template <typename Io>
ssize_t attempt(int fd, short events, int opt, Wait* w, Io io) {
  if (!w) {
    ssize_t n = io(MSG_DONTWAIT);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
  }
  BlockingScope scope;
  int r = signals_check();
  if (r < 0) return r;
  int timeout = w->timeout_ms >= 0 ? w->timeout_ms : socket_timeout_ms(fd, opt);
  double deadline = timeout < 0 ? -1 : now_ms() + timeout;
  for (;;) {
    ssize_t n = io(MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n < 0 ? -errno : n;
    if (!blocking_fd(fd)) return -EAGAIN;
    int left = deadline < 0 ? -1 : static_cast<int>(std::max(0.0, deadline - now_ms()));
    r = wait_ready(fd, events, left);
    if (r == -ETIMEDOUT) {
      w->timed_out = true;
      return -EAGAIN;
    }
    if (r < 0) return r;
  }
}
}  // namespace

ssize_t sys_sendmsg(int fd, const void* buf, size_t len, const int* fds, int nfds, const Addr* to, int flags,
                    Wait* w) {
  if (nfds < 0 || nfds > kMaxPassedFds) return -EINVAL;
  sockaddr_storage ss;
  socklen_t sslen = 0;
  if (to) {
    int r = addr_encode(*to, &ss, &sslen);
    if (r < 0) return r;
  }
  iovec iov = {const_cast<void*>(buf), len};
  std::vector<char> control(nfds > 0 ? CMSG_SPACE(sizeof(int) * nfds) : 0);
  msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = to ? &ss : nullptr;
  msg.msg_namelen = sslen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return attempt(fd, POLLOUT, SO_SNDTIMEO, w,
                 [&](int extra) { return sendmsg(fd, &msg, flags | extra | MSG_NOSIGNAL); });
}

ssize_t sys_recvmsg(int fd, void* buf, size_t len, int* fds, int maxfds, int* nfds, Addr* from, bool cloexec,
                    int flags, Wait* w) {
  *nfds = 0;
  if (maxfds < 0 || maxfds > kMaxPassedFds) return -EINVAL;
  iovec iov = {buf, len};
  // Room for at least one fd, so that fds sent to a reader that wants none
  // arrive (and are closed) rather than vanish unseen.
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (maxfds > 0 ? maxfds : 1)));
  sockaddr_storage ss;
  msghdr msg;
  memset(&msg, 0, sizeof msg);
  ssize_t n = attempt(fd, POLLIN, SO_RCVTIMEO, w, [&](int extra) {
    memset(&ss, 0, sizeof ss);
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    return recvmsg(fd, &msg, flags | extra | (cloexec ? MSG_CMSG_CLOEXEC : 0));
  });
  if (n < 0) return n;
  // Every fd that arrived is this process's now: keep up to maxfds, close
  // the rest, and on a truncated control message close them all.
  std::vector<int> got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int f;
      memcpy(&f, data + i * sizeof(int), sizeof f);
      got.push_back(f);
    }
  }
  bool truncated = (msg.msg_flags & MSG_CTRUNC) || static_cast<int>(got.size()) > maxfds;
  if (truncated) {
    for (int f : got) close(f);
    return -EMSGSIZE;
  }
  for (size_t i = 0; i < got.size(); i++) fds[i] = got[i];
  *nfds = static_cast<int>(got.size());
  if (from) addr_decode(&ss, msg.msg_namelen, from);
  return n;
}

}  // namespace wtf
