// The plain C++ layer: thin wrappers over POSIX calls that return -errno on
// failure and know nothing of JavaScript or libuv. The files beside this one
// implement it, one per area (sockets.cc, process.cc, fork.cc, signals.cc,
// blocking.cc); native/binding/ is the only code that turns them into
// N-API functions.
#pragma once

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <string>

namespace wtf {

// ---- addresses -------------------------------------------------------------

// A socket address as the binding passes it in and out.
struct Addr {
  int family = 0;       // AF_INET, AF_INET6, AF_UNIX
  std::string address;  // dotted or colon form (INET/INET6)
  int port = 0;
  uint32_t flowinfo = 0;
  uint32_t scope_id = 0;
  std::string path;  // AF_UNIX; a leading '\0' means the abstract namespace
};

// Encodes `a` into `ss`; returns the length or -EINVAL / -ENAMETOOLONG /
// -EAFNOSUPPORT.
int addr_encode(const Addr& a, sockaddr_storage* ss, socklen_t* len);
void addr_decode(const sockaddr_storage* ss, socklen_t len, Addr* out);

// ---- sockets (sockets.cc) ---------------------------------------------------

// Every call that may wait takes a timeout in milliseconds: -1 means "as the
// socket says" (SO_RCVTIMEO / SO_SNDTIMEO, or forever), anything else
// overrides it (the retry policy passes what is left of a deadline).
// `timed_out` is set when -EAGAIN means a timeout on a blocking fd.
struct Wait {
  int timeout_ms = -1;
  bool timed_out = false;
};

// The signal (SIGRTMAX - 1) a per-thread timer sends to end a system call
// that would wait in the kernel past its deadline (accept4 on a listener
// another process also accepts on). Reserved: signals_set refuses it.
int deadline_signal();

int sys_socket(int domain, int type, int flags);
int sys_bind(int fd, const Addr& a);
int sys_listen(int fd, int backlog);
// setsockopt(SO_ATTACH_FILTER) with a classic BPF program that drops every
// packet: a listening socket then completes no new handshake.
int sys_attach_drop_filter(int fd);
int sys_accept(int fd, int flags, Wait* w, Addr* peer);
int sys_connect(int fd, const Addr& a, bool resume, Wait* w);
ssize_t sys_send(int fd, const void* buf, size_t len, int flags, Wait* w);
ssize_t sys_recv(int fd, void* buf, size_t len, int flags, Wait* w);
int sys_shutdown(int fd, int how);
int sys_close(int fd);
int sys_getsockname(int fd, Addr* out);
int sys_getpeername(int fd, Addr* out);
int sys_socketpair(int domain, int type, int flags, int sv[2]);
int sys_pipe(int flags, int fds[2]);
int sys_dup(int fd);
int sys_dup2(int fd, int fd2);
int sys_set_fd_flag(int fd, bool fl_not_fd, int bit, bool on);
int sys_get_fd_flag(int fd, bool fl_not_fd, int bit);  // 0/1 or -errno
int sys_setsockopt_int(int fd, int level, int opt, int value);
int sys_getsockopt_int(int fd, int level, int opt, int* value);
// A socket filter that drops new handshakes (SYN without ACK).
int sys_drop_syns(int fd);
int sys_setsockopt_timeval(int fd, int opt, double seconds);
int sys_getsockopt_timeval(int fd, int opt, double* seconds);
int sys_setsockopt_linger(int fd, bool onoff, int seconds);
int sys_getsockopt_linger(int fd, bool* onoff, int* seconds);
// The socket's own SO_RCVTIMEO / SO_SNDTIMEO (`opt`) in milliseconds, or -1
// for none (wait forever). The one place the socket timeout is read.
int socket_timeout_ms(int fd, int opt);

// ---- calls that never wait (nowait.cc), for the promise API ---------------

// Each tries once: -EAGAIN when it would have to wait (-EINPROGRESS for a
// connect that started), never -EINTR. accept and connect set O_NONBLOCK
// for the one call only, so the fd's own mode (shared by forked children)
// stays as it was.
int nowait_accept(int fd, int flags, Addr* peer);
int nowait_connect(int fd, const Addr& a);
// The result of a connect that went on in the kernel (SO_ERROR): 0 or -errno.
int nowait_connect_result(int fd);
ssize_t nowait_send(int fd, const void* buf, size_t len, int flags);
ssize_t nowait_recv(int fd, void* buf, size_t len, int flags);
// pidfd_open(2) (Linux 5.3): a fd that becomes readable when `pid` exits;
// close-on-exec.
int sys_pidfd_open(int pid);

// ---- messages with fds or addresses (fdpass.cc) ----------------------------

// SCM_MAX_FD: the most fds one message may carry.
constexpr int kMaxPassedFds = 253;
// sendmsg(2) with `nfds` fds (SCM_RIGHTS) and, for an unconnected datagram
// socket, an address (`to`, may be null). w == nullptr never waits.
ssize_t sys_sendmsg(int fd, const void* buf, size_t len, const int* fds, int nfds, const Addr* to, int flags,
                    Wait* w);
// recvmsg(2): up to `len` bytes and up to `maxfds` fds (close-on-exec with
// `cloexec`), and the sender's address when `from` is not null. A message
// with more fds than `maxfds`, or a truncated control message (MSG_CTRUNC),
// closes every fd that arrived and returns -EMSGSIZE.
ssize_t sys_recvmsg(int fd, void* buf, size_t len, int* fds, int maxfds, int* nfds, Addr* from, bool cloexec,
                    int flags, Wait* w);

// ---- processes (process.cc) ------------------------------------------------

int sys_waitpid(int pid, int options, int* status);
int sys_kill(int pid, int sig);
int sys_set_pdeathsig(int sig);
int sys_set_child_subreaper(bool on);
[[noreturn]] void sys_exit_now(int code);
// execve(2); returns -errno only when it fails.
int sys_execve(const char* path, char* const argv[], char* const envp[]);

// ---- the fork sequence (fork.cc) -------------------------------------------

// Returns the child's pid in the parent, 0 in the child, or -errno.
// `child_setup` runs in the child with every signal still blocked, before
// anything else may run.
int fork_process(void (*child_setup)(void*), void* arg);
// Re-marks V8's MADV_DONTFORK mappings as MADV_DOFORK; returns 1 when it had
// to take the slow path (one madvise per mapping).
int mark_heap_forkable();
bool on_main_thread();
// In a forked child: gives fd 1 and fd 2, when they are pipes, an open file
// description of the child's own without O_NONBLOCK.
void make_stdio_blocking();

// ---- signals (signals.cc) --------------------------------------------------

// kPrevious puts back what was there before this package (Node's handler,
// libuv's, or SIG_DFL).
enum class Disposition { kPrevious, kIgnore, kHandle };
struct SigOptions {
  bool restart = false;    // SA_RESTART
  bool nocldstop = false;  // SA_NOCLDSTOP
  bool nocldwait = false;  // SA_NOCLDWAIT
};

void signals_init();
// Tells the handler which previous handler is libuv's, to chain to.
void signals_set_libuv_handler(void (*fn)(int));
int signals_set(int sig, Disposition d, const SigOptions& o);
int signals_restart_flag(int sig);  // 1 if installed with restart
// Moves every pending signal into `out` (up to n); returns how many.
int signals_take(int* out, int* counts, int n);
// The fd the event loop and wait_ready() watch for pending signals.
int signals_wake_fd();
// Empties the wake fd (a wake-up whose signal was already taken).
void signals_drain_wake_fd();
// Points at the word JS reads to see "a signal is pending" without a call.
int32_t* signals_state_word();
// Puts our handlers back where libuv or Node replaced them.
void signals_reassert();
// In a forked child: restores every disposition we replaced, forgets
// pending signals, gives the child a wake fd of its own.
void signals_after_fork_child();

// True on the thread whose blocking calls handled signals interrupt: the
// main thread, once signals_init() ran there. A worker thread's calls wait
// for their fd only.
bool signals_thread();
// A blocking call brackets itself with these: the signal handler only
// forwards a signal to the main thread while it is inside one.
struct BlockingScope {
  BlockingScope();
  ~BlockingScope();
  const bool counted;
};
// -EINTR if a handled signal is pending for this thread, else 0.
int signals_check();

// ---- waiting (blocking.cc) -------------------------------------------------

// CLOCK_MONOTONIC in milliseconds.
double now_ms();
// Waits until `fd` is ready for `events`, a handled signal arrives (-EINTR)
// or `timeout_ms` passes (-ETIMEDOUT). fd < 0 waits for signals only.
int wait_ready(int fd, short events, int timeout_ms);
// Sleeps `ms`; returns 0, or -EINTR with *left_ms set when a handled signal
// arrived first.
int sys_sleep(double ms, double* left_ms);

}  // namespace wtf
