/**
 * what-the-fork: the raw POSIX calls behind a classic Unix server (socket,
 * bind, listen, accept, send, recv, close, fork, waitpid, kill, _exit,
 * signal/sigaction) for Node.js, every errno a typed error.
 *
 * The public API, by area; docs/architecture.md says where each lives.
 */

// Errors: every errno a typed error.
export * from './errors';

// Sockets: addresses, one function per call, options, and the Nim-style class.
export { AF_INET, AF_INET6, AF_UNIX } from './sockets/addresses';
export type { Domain, Inet4Address, Inet6Address, UnixAddress, SocketAddress } from './sockets/addresses';
export {
  SOCK_STREAM,
  SOCK_DGRAM,
  SHUT_RD,
  SHUT_WR,
  SHUT_RDWR,
  MSG_PEEK,
  MSG_DONTWAIT,
  MSG_WAITALL,
  MSG_MORE,
  SOMAXCONN,
  socket,
  bind,
  listen,
  accept,
  connect,
  send,
  sendAll,
  recv,
  shutdown,
  close,
  getsockname,
  getpeername,
  socketpair,
  pipe,
  dup,
  dup2,
  setNonBlocking,
  isNonBlocking,
  setCloseOnExec,
  isCloseOnExec,
} from './sockets/syscalls';
export type { SocketType, FdFlags, AcceptOptions, SendOptions, RecvOptions } from './sockets/syscalls';
export { setsockopt, getsockopt, attachDropFilter } from './sockets/options';
export type { Linger, SocketOptionValues, SocketOption } from './sockets/options';
export { Socket, LineTooLongError, ReuseAddr, ReusePort, KeepAlive, NoDelay } from './sockets/socket-class';
export type { SocketInit } from './sockets/socket-class';
import './sockets/rehearsal';

// Processes: fork, exec, wait, and who this process is.
export { getpid, getppid, isForkedChild, setParentDeathSignal } from './process/self';
export { fork, NotSingleThreadedError } from './process/fork';
export type { ForkOptions } from './process/fork';
export { execve, execSingleThreaded, _exit } from './process/exec';
export { WNOHANG, WUNTRACED, WCONTINUED, waitpid, wait, reapChildren, forkedChildren } from './process/wait';
export type { WaitStatus, WaitOptions } from './process/wait';

// Signals: names, dispositions, handlers, kill.
export {
  signals,
  signalNumber,
  SIGHUP,
  SIGINT,
  SIGQUIT,
  SIGKILL,
  SIGUSR1,
  SIGUSR2,
  SIGPIPE,
  SIGALRM,
  SIGTERM,
  SIGCHLD,
  SIGCONT,
  SIGSTOP,
} from './signals/names';
export type { SignalName } from './signals/names';
export { sigaction, signal, forgetSignalHandlers, runPendingSignalHandlers } from './signals/dispositions';
export type { SigactionOptions, Disposition, SignalHandler } from './signals/dispositions';
export { kill } from './signals/kill';

// The blocking machinery: the EINTR policy, and sleep.
export { setInterruptPolicy, sleep } from './blocking';
export type { BlockingOptions, InterruptPolicy } from './blocking';

// The syscall trace.
export { setTrace, isTracing } from './trace';

// The prefork server (docs/prefork.md).
export * from './prefork';
