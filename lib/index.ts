/**
 * what-the-fork: the raw POSIX calls behind a classic Unix server (socket,
 * bind, listen, accept, send, recv, close, fork, waitpid, kill, _exit,
 * signal/sigaction) for Node.js, every errno a typed error.
 *
 * The public API, by area; docs/architecture.md says where each lives.
 */

// Errors: every errno a typed error.
export * from './errors.ts';

// Sockets: addresses, one function per call, options, and the Nim-style class.
export { AF_INET, AF_INET6, AF_UNIX } from './sockets/addresses.ts';
export type { Domain, Inet4Address, Inet6Address, UnixAddress, SocketAddress } from './sockets/addresses.ts';
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
  MSG_OOB,
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
  dropNewConnections,
} from './sockets/syscalls.ts';
export type { SocketType, FdFlags, AcceptOptions, SendOptions, RecvOptions } from './sockets/syscalls.ts';
export { sendFds, recvFds, sendto, recvfrom, MAX_PASSED_FDS } from './sockets/fdpass.ts';
export type { SendMsgOptions, RecvMsgOptions, ReceivedMessage } from './sockets/fdpass.ts';
export { setsockopt, getsockopt, attachDropFilter } from './sockets/options.ts';
export type { Linger, SocketOptionValues, SocketOption } from './sockets/options.ts';
export { Socket, LineTooLongError, ReuseAddr, ReusePort, KeepAlive, NoDelay } from './sockets/socket-class.ts';
export type { SocketInit } from './sockets/socket-class.ts';
import './sockets/rehearsal.ts';

// Processes: fork, exec, wait, and who this process is.
export { getpid, getppid, isForkedChild } from './process/self.ts';
export { fork, NotSingleThreadedError } from './process/fork.ts';
export type { ForkOptions } from './process/fork.ts';
export { execve, execSingleThreaded, _exit } from './process/exec.ts';
export { setParentDeathSignal, setChildSubreaper } from './process/prctl.ts';
export { WNOHANG, WUNTRACED, WCONTINUED, waitpid, wait, reapChildren, forkedChildren } from './process/wait.ts';
export type { WaitStatus, WaitOptions } from './process/wait.ts';

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
} from './signals/names.ts';
export type { SignalName } from './signals/names.ts';
export { sigaction, signal, forgetSignalHandlers } from './signals/dispositions.ts';
export { runPendingSignalHandlers } from './signals/dispatch.ts';
export type { SigactionOptions, Disposition, SignalHandler } from './signals/dispositions.ts';
export { kill } from './signals/kill.ts';

// The blocking machinery: the EINTR policy, and sleep.
export { setInterruptPolicy, sleep } from './blocking.ts';
export type { BlockingOptions, InterruptPolicy } from './blocking.ts';

// The syscall trace.
export { setTrace, isTracing } from './trace.ts';

// Hand-off with node:net, both ways.
export { toNetSocket, toNetServer, fdOf, isHandedOff, HandedOffError } from './net/handoff.ts';
export type { ToNetSocketOptions } from './net/handoff.ts';

/**
 * The calls that wait, as Promises (also `what-the-fork/promises`): same
 * names, arguments and errors as the blocking calls, plus `{ signal,
 * timeoutMs }`; the waiting happens on the event loop.
 */
export * as promises from './promises/index.ts';

// The prefork server (docs/prefork.md).
export * from './prefork/index.ts';
