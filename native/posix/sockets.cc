// Sockets, fds and socket options: one small function per syscall.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "posix.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace wtf {

int addr_encode(const Addr& a, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  if (a.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(a.port);
    if (inet_pton(AF_INET, a.address.c_str(), &in->sin_addr) != 1) return -EINVAL;
    *len = sizeof *in;
  } else if (a.family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    in6->sin6_flowinfo = htonl(a.flowinfo);
    in6->sin6_scope_id = a.scope_id;
    if (inet_pton(AF_INET6, a.address.c_str(), &in6->sin6_addr) != 1) return -EINVAL;
    *len = sizeof *in6;
  } else if (a.family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(ss);
    un->sun_family = AF_UNIX;
    // A path needs room for its terminating NUL; an abstract name does not.
    bool abstract = !a.path.empty() && a.path[0] == '\0';
    if (a.path.size() + (abstract ? 0 : 1) > sizeof un->sun_path) return -ENAMETOOLONG;
    memcpy(un->sun_path, a.path.data(), a.path.size());
    *len = offsetof(sockaddr_un, sun_path) + a.path.size() + (abstract ? 0 : 1);
  } else {
    return -EAFNOSUPPORT;
  }
  return static_cast<int>(*len);
}

void addr_decode(const sockaddr_storage* ss, socklen_t len, Addr* out) {
  char buf[INET6_ADDRSTRLEN];
  out->family = ss->ss_family;
  if (ss->ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(ss);
    out->address = inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    out->port = ntohs(in->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(ss);
    out->address = inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    out->port = ntohs(in6->sin6_port);
    out->flowinfo = ntohl(in6->sin6_flowinfo);
    out->scope_id = in6->sin6_scope_id;
  } else if (ss->ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<const sockaddr_un*>(ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > 0 && un->sun_path[0] != '\0') n = strnlen(un->sun_path, n);
    out->path.assign(un->sun_path, n);
  }
}

int socket_timeout_ms(int fd, int opt) {
  double s = 0;
  if (sys_getsockopt_timeval(fd, opt, &s) < 0 || s <= 0) return -1;
  // poll(2) takes an int of milliseconds: longer timeouts are cut to ~24 days.
  double ms = std::ceil(s * 1000);
  return ms >= INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// How long a blocking call may wait: the caller's override, else the socket's
// own SO_RCVTIMEO / SO_SNDTIMEO.
static int timeout_for(int fd, int opt, const Wait* w) {
  return w->timeout_ms >= 0 ? w->timeout_ms : socket_timeout_ms(fd, opt);
}

static bool is_blocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && !(fl & O_NONBLOCK);
}

static int ret(long r) { return r < 0 ? -errno : static_cast<int>(r); }

int sys_socket(int domain, int type, int flags) { return ret(socket(domain, type | flags, 0)); }

int sys_bind(int fd, const Addr& a) {
  sockaddr_storage ss;
  socklen_t len;
  int r = addr_encode(a, &ss, &len);
  if (r < 0) return r;
  return ret(bind(fd, reinterpret_cast<sockaddr*>(&ss), len));
}

int sys_listen(int fd, int backlog) { return ret(listen(fd, backlog)); }

// Whole milliseconds of CLOCK_MONOTONIC (now_ms() is in blocking.cc).
static int64_t now_whole_ms() { return static_cast<int64_t>(now_ms()); }

// What is left of a deadline (-1: none) as poll(2) takes it.
static int left_ms(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - now_whole_ms();
  return left <= 0 ? 0 : left >= INT_MAX ? INT_MAX : static_cast<int>(left);
}

static int64_t deadline_after(int timeout_ms) { return timeout_ms < 0 ? -1 : now_whole_ms() + timeout_ms; }

// Waits for readiness until `deadline`; a timeout is EAGAIN with timed_out
// set, as the kernel reports SO_RCVTIMEO / SO_SNDTIMEO running out.
static int wait_until(int fd, short events, int64_t deadline, Wait* w) {
  int r = wait_ready(fd, events, left_ms(deadline));
  if (r != -ETIMEDOUT) return r;
  w->timed_out = true;
  return -EAGAIN;
}

int deadline_signal() { return SIGRTMAX - 1; }

static void on_deadline(int) {}

// Runs `call`, a system call that may wait in the kernel, with a timer
// that sends deadline_signal() to this thread alone at `deadline`, so the
// call fails there with EINTR. The handler does nothing and is installed
// without SA_RESTART, once: dispositions survive fork, timers do not, so
// each call makes its own.
template <typename Call>
static int call_before(int64_t deadline, Call call) {
  static bool installed = false;
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_deadline;
    sigemptyset(&sa.sa_mask);
    if (sigaction(deadline_signal(), &sa, nullptr) < 0) return -errno;
    installed = true;
  }
  sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = deadline_signal();
  sev.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
  timer_t timer;
  // Without a thread-directed timer (an emulator such as qemu-user lacks
  // SIGEV_THREAD_ID; or the timer limit is reached) the call runs as it
  // would without a deadline: ready a moment ago, it mostly returns at once.
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0) return call();
  // A deadline already reached still gets one try, cut short after 1 ms.
  int ms = std::max(1, left_ms(deadline));
  itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (ms % 1000) * 1000000L;
  int r = timer_settime(timer, 0, &its, nullptr) < 0 ? -errno : call();
  timer_delete(timer);
  return r;
}

static int accept_now(int fd, int flags, Addr* peer) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int c = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, flags);
  if (c < 0) return -errno;
  addr_decode(&ss, len, peer);
  return c;
}

int sys_accept(int fd, int flags, Wait* w, Addr* peer) {
  BlockingScope scope;
  if (!is_blocking(fd)) return accept_now(fd, flags, peer);
  // A fd that is not a listening socket would never become readable the
  // way poll(2) is asked: let the kernel fail it at once (ENOTSOCK for a
  // pipe, EINVAL for a socket that is not listening, EOPNOTSUPP for a
  // datagram socket) instead of waiting for ever.
  int listening = 0;
  int r = sys_getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening);
  if (r < 0) return r;
  if (!listening) return accept_now(fd, flags, peer);
  int64_t deadline = deadline_after(timeout_for(fd, SO_RCVTIMEO, w));
  for (;;) {
    r = wait_until(fd, POLLIN, deadline, w);
    if (r < 0) return r;
    // Readiness and accept4 are not one step: another process that shares
    // the listener may take the connection in between, and a blocking
    // accept4 would then wait in the kernel past the deadline. A per-thread
    // timer interrupts it there (EINTR); the loop then sees the deadline.
    int c = deadline < 0 ? accept_now(fd, flags, peer)
                         : call_before(deadline, [&] { return accept_now(fd, flags, peer); });
    if (c != -EINTR) return c;
    if (signals_check() < 0) return -EINTR;
  }
}

int sys_connect(int fd, const Addr& a, bool resume, Wait* w) {
  BlockingScope scope;
  if (!resume) {
    int r = signals_check();
    if (r < 0) return r;
    sockaddr_storage ss;
    socklen_t len;
    r = addr_encode(a, &ss, &len);
    if (r < 0) return r;
    sockaddr* sa = reinterpret_cast<sockaddr*>(&ss);
    // A blocking TCP connect would wait inside the kernel, where neither a
    // signal that lands just before it nor timeoutMs can end it. Start the
    // handshake without waiting instead (O_NONBLOCK for this one call), then
    // wait for it below the way an interrupted connect is waited for. UNIX
    // sockets keep the plain call: theirs fails with EAGAIN, not
    // EINPROGRESS, when the listener's queue is full.
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK) || ss.ss_family == AF_UNIX) {
      // An EINTR here leaves the handshake running; the caller resumes it.
      return connect(fd, sa, len) == 0 ? 0 : -errno;
    }
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    int c = connect(fd, sa, len);
    int e = errno;
    fcntl(fd, F_SETFL, fl);
    if (c == 0) return 0;
    if (e != EINPROGRESS) return -e;
  }
  // An interrupted connect goes on in the kernel: wait for it to finish and
  // collect its result (what PEP 475 does for socket.connect).
  int r = wait_ready(fd, POLLOUT, timeout_for(fd, SO_SNDTIMEO, w));
  if (r == -ETIMEDOUT) return -ETIMEDOUT;
  if (r < 0) return r;
  int err = 0;
  r = sys_getsockopt_int(fd, SOL_SOCKET, SO_ERROR, &err);
  return r < 0 ? r : -err;
}

// send and recv never wait inside the kernel: every attempt is made with
// MSG_DONTWAIT (a per-call flag, so the shared open file is not touched),
// and only an attempt that would have had to wait pays for the readiness
// wait that makes it interruptible. When the data or the buffer space is
// already there, as it mostly is in a server, that is one system call. An
// attempt after readiness can still find nothing, when another process
// that shares the fd took the data (or the room) first: it waits again,
// for what is left of the deadline, never past it.
template <typename Io>
static ssize_t try_then_wait(int fd, short events, int opt, int flags, Wait* w, Io io) {
  BlockingScope scope;
  int r = signals_check();
  if (r < 0) return r;
  ssize_t n = io(flags | MSG_DONTWAIT);
  if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n < 0 ? -errno : n;
  // The caller's own MSG_DONTWAIT, or a non-blocking fd: EAGAIN, at once.
  if ((flags & MSG_DONTWAIT) || !is_blocking(fd)) return -EAGAIN;
  int64_t deadline = deadline_after(timeout_for(fd, opt, w));
  for (;;) {
    r = wait_until(fd, events, deadline, w);
    if (r < 0) return r;
    n = io(flags | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n < 0 ? -errno : n;
  }
}

ssize_t sys_send(int fd, const void* buf, size_t len, int flags, Wait* w) {
  // MSG_NOSIGNAL: a closed peer gives EPIPE, never SIGPIPE.
  return try_then_wait(fd, POLLOUT, SO_SNDTIMEO, flags | MSG_NOSIGNAL, w,
                       [&](int f) { return send(fd, buf, len, f); });
}

// MSG_WAITALL on a stream socket: gathers reads until `len` bytes came, end
// of stream, an error, a signal or the deadline; what came before any of
// those is returned, as the kernel does. On other sockets the flag means
// nothing and one datagram is returned.
static ssize_t recv_all(int fd, uint8_t* buf, size_t len, int flags, Wait* w) {
  int64_t deadline = deadline_after(timeout_for(fd, SO_RCVTIMEO, w));
  size_t got = 0;
  while (got < len) {
    Wait part;
    part.timeout_ms = left_ms(deadline);
    ssize_t n = try_then_wait(fd, POLLIN, SO_RCVTIMEO, flags, &part,
                              [&](int f) { return recv(fd, buf + got, len - got, f); });
    if (n < 0) {
      if (got > 0) break;
      w->timed_out = part.timed_out;
      return n;
    }
    if (n == 0) break;
    got += n;
  }
  return static_cast<ssize_t>(got);
}

ssize_t sys_recv(int fd, void* buf, size_t len, int flags, Wait* w) {
  // MSG_TRUNC would make recv report a datagram's full length, more than
  // `len`: the binding refuses it, and no caller ever sees more than `len`.
  flags &= ~MSG_TRUNC;
  ssize_t n;
  int type = 0;
  if ((flags & MSG_WAITALL) && !(flags & (MSG_DONTWAIT | MSG_PEEK))) {
    int r = sys_getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0) return r;  // ENOTSOCK for a pipe, at once
  }
  if (type == SOCK_STREAM) {
    BlockingScope scope;
    n = recv_all(fd, static_cast<uint8_t*>(buf), len, flags & ~MSG_WAITALL, w);
  } else {
    n = try_then_wait(fd, POLLIN, SO_RCVTIMEO, flags & ~MSG_WAITALL, w,
                      [&](int f) { return recv(fd, buf, len, f); });
  }
  return n > static_cast<ssize_t>(len) ? static_cast<ssize_t>(len) : n;
}

int sys_shutdown(int fd, int how) { return ret(shutdown(fd, how)); }

// close(2) is not retried on EINTR: on Linux the fd is gone either way.
int sys_close(int fd) {
  int r = close(fd);
  return r < 0 && errno != EINTR ? -errno : 0;
}

static int name_of(int (*fn)(int, sockaddr*, socklen_t*), int fd, Addr* out) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (fn(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -errno;
  addr_decode(&ss, len, out);
  return 0;
}

int sys_getsockname(int fd, Addr* out) { return name_of(getsockname, fd, out); }
int sys_getpeername(int fd, Addr* out) { return name_of(getpeername, fd, out); }

int sys_socketpair(int domain, int type, int flags, int sv[2]) {
  return ret(socketpair(domain, type | flags, 0, sv));
}

int sys_pipe(int flags, int fds[2]) { return ret(pipe2(fds, flags)); }
int sys_dup(int fd) { return ret(dup(fd)); }
int sys_dup2(int fd, int fd2) { return ret(dup2(fd, fd2)); }

// fl_not_fd: O_NONBLOCK lives in the file status flags (F_GETFL), FD_CLOEXEC
// in the descriptor flags (F_GETFD).
int sys_get_fd_flag(int fd, bool fl_not_fd, int bit) {
  int cur = fcntl(fd, fl_not_fd ? F_GETFL : F_GETFD);
  return cur < 0 ? -errno : (cur & bit) != 0;
}

int sys_set_fd_flag(int fd, bool fl_not_fd, int bit, bool on) {
  int cur = fcntl(fd, fl_not_fd ? F_GETFL : F_GETFD);
  if (cur < 0) return -errno;
  int next = on ? (cur | bit) : (cur & ~bit);
  return ret(fcntl(fd, fl_not_fd ? F_SETFL : F_SETFD, next));
}

int sys_setsockopt_int(int fd, int level, int opt, int value) {
  return ret(setsockopt(fd, level, opt, &value, sizeof value));
}

// setsockopt(2) SO_ATTACH_FILTER with a classic BPF program over the TCP
// header (where a TCP socket's filter starts reading): a segment with SYN set
// and ACK clear, the first of a new handshake, is dropped; all else is kept.
int sys_drop_syns(int fd) {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),           // A = the flags byte
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),        // A &= SYN | ACK
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),  // SYN alone?
      BPF_STMT(BPF_RET | BPF_K, 0),                     // drop it
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),            // keep it
  };
  sock_fprog prog = {static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return ret(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog));
}

int sys_getsockopt_int(int fd, int level, int opt, int* value) {
  socklen_t len = sizeof *value;
  return ret(getsockopt(fd, level, opt, value, &len));
}

int sys_setsockopt_timeval(int fd, int opt, double seconds) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - tv.tv_sec) * 1e6);
  // A zero timeval means "no timeout": a tiny positive one must not become it.
  if (seconds > 0 && tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
  return ret(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv));
}

int sys_getsockopt_timeval(int fd, int opt, double* seconds) {
  timeval tv;
  socklen_t len = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0) return -errno;
  *seconds = tv.tv_sec + tv.tv_usec / 1e6;
  return 0;
}

int sys_setsockopt_linger(int fd, bool onoff, int seconds) {
  linger l = {onoff ? 1 : 0, seconds};
  return ret(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
}

int sys_getsockopt_linger(int fd, bool* onoff, int* seconds) {
  linger l;
  socklen_t len = sizeof l;
  if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) < 0) return -errno;
  *onoff = l.l_onoff != 0;
  *seconds = l.l_linger;
  return 0;
}

int sys_attach_drop_filter(int fd) {
  sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 0)};  // accept 0 bytes: drop
  sock_fprog prog = {1, code};
  return ret(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog));
}

}  // namespace wtf
