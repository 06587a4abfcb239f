/**
 * The raw socket layer: one function per system call, on integer fds, named
 * after the call. Each validates its arguments, calls the addon and throws a
 * {@link PosixError} subclass when the kernel says no.
 */
import { C, native, type NativeAddress, type NativeAddressOut } from './native';
import { InterruptedError, PosixError, makeError } from './errors';
import { blocking, formatAddress, sys, type BlockingOptions } from './runtime';
import {
  ArgRangeError,
  ArgTypeError,
  ArgValueError,
  checkBool,
  checkBytes,
  checkChoice,
  checkFd,
  checkFlags,
  checkInt,
  checkInterruptPolicy,
  checkIp,
  checkObject,
  checkOptions,
  checkPort,
  describe,
} from './validate';

// ---- constants ---------------------------------------------------------------

/** AF_INET, address family IPv4 (`<sys/socket.h>`, ip(7)). */
export const AF_INET = C.AF_INET;
/** AF_INET6, address family IPv6 (ipv6(7)). */
export const AF_INET6 = C.AF_INET6;
/** AF_UNIX, local sockets named by a filesystem path or an abstract name (unix(7)). */
export const AF_UNIX = C.AF_UNIX;
/** SOCK_STREAM, a reliable, ordered byte stream (TCP for AF_INET/AF_INET6). */
export const SOCK_STREAM = C.SOCK_STREAM;
/** SOCK_DGRAM, separate messages that keep their boundaries (UDP for AF_INET/AF_INET6). */
export const SOCK_DGRAM = C.SOCK_DGRAM;
/** shutdown(2) SHUT_RD: no more receiving. */
export const SHUT_RD = C.SHUT_RD;
/** shutdown(2) SHUT_WR: no more sending; the peer reads end of stream. */
export const SHUT_WR = C.SHUT_WR;
/** shutdown(2) SHUT_RDWR: no more sending or receiving. */
export const SHUT_RDWR = C.SHUT_RDWR;
/** recv(2) MSG_PEEK: return the data but leave it queued for the next read. */
export const MSG_PEEK = C.MSG_PEEK;
/**
 * send(2)/recv(2) MSG_DONTWAIT: do not wait, for this one call, even on a
 * fd in blocking mode: with nothing to read (or no room to write) the call
 * throws BlockingIOError (EAGAIN) at once.
 */
export const MSG_DONTWAIT = C.MSG_DONTWAIT;
/** recv(2) MSG_WAITALL: wait until all `maxBytes` arrived (a signal, an error or end of stream still ends it early). */
export const MSG_WAITALL = C.MSG_WAITALL;
/** send(2) MSG_MORE (Linux): more data follows, so the kernel may hold this in a fuller segment. */
export const MSG_MORE = C.MSG_MORE;
/** send(2)/recv(2) MSG_OOB: TCP urgent data (one byte out of band). */
export const MSG_OOB = C.MSG_OOB;
/** The kernel's cap on a listen(2) backlog. */
export const SOMAXCONN = C.SOMAXCONN;

/** An address family by name, as {@link socket} and {@link socketpair} take it. */
export type Domain = 'AF_INET' | 'AF_INET6' | 'AF_UNIX';
/** A socket type by name, as {@link socket} and {@link socketpair} take it. */
export type SocketType = 'SOCK_STREAM' | 'SOCK_DGRAM';

const domains: Record<string, number> = { AF_INET, AF_INET6, AF_UNIX };
// The flags each call supports; the addon checks the same sets. MSG_TRUNC
// is not among them: it makes recv(2) report more bytes than it had room for.
const sendFlags: Record<string, number> = { MSG_OOB, MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL: C.MSG_NOSIGNAL };
const recvFlags: Record<string, number> = { MSG_OOB, MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL };
const types: Record<string, number> = { SOCK_STREAM, SOCK_DGRAM };

// ---- addresses -----------------------------------------------------------------

/** An IPv4 address and port: `{ family: 'AF_INET', address: '127.0.0.1', port: 9093 }`. */
export interface Inet4Address {
  family: 'AF_INET';
  address: string;
  port: number;
}
/** An IPv6 address and port, with the optional flow label and scope (interface) id. */
export interface Inet6Address {
  family: 'AF_INET6';
  address: string;
  port: number;
  flowinfo?: number;
  scopeId?: number;
}
/** A UNIX-domain socket path; a path starting with `'\0'` is in the abstract namespace. */
export interface UnixAddress {
  family: 'AF_UNIX';
  path: string;
}
/** Any socket address this package takes or returns. */
export type SocketAddress = Inet4Address | Inet6Address | UnixAddress;

function toNative(address: unknown): NativeAddress {
  const a = checkObject(address, 'address');
  if (a.family === 'AF_INET' || a.family === AF_INET) {
    return { family: AF_INET, address: checkIp(a.address, 4), port: checkPort(a.port, 'address.port') };
  }
  if (a.family === 'AF_INET6' || a.family === AF_INET6) {
    return {
      family: AF_INET6,
      address: checkIp(a.address, 6),
      port: checkPort(a.port, 'address.port'),
      flowinfo: a.flowinfo === undefined ? 0 : checkInt(a.flowinfo, 'address.flowinfo', 0, 0xfffff),
      scopeId: a.scopeId === undefined ? 0 : checkInt(a.scopeId, 'address.scopeId', 0, 0xffffffff),
    };
  }
  if (a.family === 'AF_UNIX' || a.family === AF_UNIX) {
    if (typeof a.path !== 'string')
      throw new ArgTypeError(`The "address.path" argument must be of type string, received ${describe(a.path)}`);
    const bytes = Buffer.byteLength(a.path);
    const room = a.path.startsWith('\0') ? 108 : 107;
    if (bytes === 0 || bytes > room)
      throw new ArgRangeError(`The "address.path" argument must be 1 to ${room} bytes long, received ${bytes}`);
    return { family: AF_UNIX, path: a.path };
  }
  throw new ArgValueError(
    `The "address.family" argument must be 'AF_INET', 'AF_INET6' or 'AF_UNIX', received ${describe(a.family)}`,
  );
}

function fromNative(a: NativeAddressOut): SocketAddress {
  if (a.family === 'AF_UNSPEC') return { family: 'AF_UNIX', path: '' };
  return a;
}

// Rebuilds a PosixError raised by a call on `fd` so that it carries the fd
// (and names it in the message when no address does): "close EBADF: bad
// file descriptor fd 7" says which descriptor was bad.
function onFd<T>(fd: number, call: () => T): () => T {
  return () => {
    try {
      return call();
    } catch (err) {
      if (!(err instanceof PosixError) || err.fd !== undefined) throw err;
      const Cls = err.constructor as typeof PosixError;
      throw new Cls(err.errno, err.syscall, {
        address: err.address,
        port: err.port,
        path: err.path,
        pid: err.pid,
        fd,
        timedOut: err.timedOut,
      });
    }
  };
}

// ---- socket(2) and friends ---------------------------------------------------

/** Flags for calls that create fds. */
export interface FdFlags {
  /** O_NONBLOCK: calls fail with BlockingIOError instead of waiting. */
  nonblock?: boolean;
  /** O_CLOEXEC / FD_CLOEXEC: the fd is closed across execve(2). */
  cloexec?: boolean;
}

function fdFlags(options: unknown): number {
  const o = checkOptions(options);
  let flags = 0;
  if (o.nonblock !== undefined && checkBool(o.nonblock, 'options.nonblock')) flags |= C.SOCK_NONBLOCK;
  if (o.cloexec !== undefined && checkBool(o.cloexec, 'options.cloexec')) flags |= C.SOCK_CLOEXEC;
  return flags;
}

/**
 * socket(2): creates an endpoint and returns its fd.
 * `socket('AF_INET', 'SOCK_STREAM')`; the numeric constants work too.
 * @throws PosixError (EMFILE, EAFNOSUPPORT, ...)
 * Teaches: a socket is just a file descriptor until you bind or connect it.
 */
export function socket(domain: Domain | number, type: SocketType | number, options?: FdFlags): number {
  const d = checkChoice(domain, domains, 'domain');
  const t = checkChoice(type, types, 'type');
  const flags = fdFlags(options);
  return sys(
    'socket',
    () => `${domain}, ${type}`,
    () => native.socket(d, t, flags),
  );
}

/**
 * bind(2): gives the socket a local address.
 * @throws AddressInUseError (EADDRINUSE), PermissionError (EACCES),
 *   BadFileDescriptorError (EBADF), PosixError (EINVAL when already bound,
 *   and then the message names the address it is bound to;
 *   EADDRNOTAVAIL); TypeError/RangeError naming `address` or its fields
 * Teaches: the port stays taken until every fd for the socket is closed.
 */
export function bind(fd: number, address: SocketAddress): void {
  checkFd(fd);
  const a = toNative(address);
  sys(
    'bind',
    () => `${fd}, ${formatAddress(address)}`,
    () => {
      try {
        onFd(fd, () => native.bind(fd, a))();
      } catch (err) {
        throw alreadyBound(fd, err);
      }
    },
  );
}

// bind(2) gives EINVAL, "invalid argument", for a socket that has an
// address already: the error says so, and names it.
function alreadyBound(fd: number, err: unknown): unknown {
  if (!(err instanceof PosixError) || err.code !== 'EINVAL') return err;
  let bound: NativeAddressOut;
  try {
    bound = native.getsockname(fd);
  } catch {
    return err;
  }
  const named = bound.family === 'AF_UNIX' ? bound.path !== '' : bound.family !== 'AF_UNSPEC' && bound.port !== 0;
  if (named) err.message += ` (the socket is already bound to ${formatAddress(bound)})`;
  return err;
}

/**
 * listen(2): marks a bound stream socket as accepting connections; the
 * kernel queues up to `backlog` finished handshakes (capped at SOMAXCONN).
 * @throws AddressInUseError (EADDRINUSE), BadFileDescriptorError (EBADF),
 *   PosixError (ENOTSUP/EOPNOTSUPP for a SOCK_DGRAM socket, ENOTSOCK);
 *   TypeError/RangeError naming `backlog`
 * Teaches: the kernel completes handshakes on its own and queues them,
 * even while the server is busy and not calling accept.
 */
export function listen(fd: number, backlog: number = SOMAXCONN): void {
  checkFd(fd);
  checkInt(backlog, 'backlog', 0, 2 ** 31 - 1);
  sys(
    'listen',
    () => `${fd}, ${backlog}`,
    onFd(fd, () => native.listen(fd, backlog)),
  );
}

/** Options of {@link accept}. */
export interface AcceptOptions extends FdFlags, BlockingOptions {}

/**
 * accept(2): takes the next connection from a listening socket's queue,
 * blocking until there is one (unless the fd is non-blocking).
 * Returns the new fd and the peer's address.
 * @throws InterruptedError (EINTR) when a handled signal arrives while it
 *   blocks; BlockingIOError (EAGAIN) on a non-blocking fd with nothing
 *   queued; TimeoutError when SO_RCVTIMEO or `timeoutMs` passes;
 *   ConnectionAbortedError; BadFileDescriptorError (EBADF);
 *   PosixError (EMFILE; at once, without waiting, EINVAL for a socket that
 *   is not listening, ENOTSOCK, EOPNOTSUPP for a datagram socket).
 *   `timeoutMs` holds even when another process accepts on the same listener.
 * Teaches: the listening fd never carries data; every client gets a fd of its own.
 */
export function accept(fd: number, options?: AcceptOptions): { fd: number; address: SocketAddress } {
  checkFd(fd);
  const o = checkWaitOptions(options);
  const flags = fdFlags({ nonblock: o.nonblock, cloexec: o.cloexec });
  return sys(
    'accept',
    () => `${fd}`,
    onFd(fd, () => {
      const r = blocking(
        o,
        () => socketTimeout(fd, 'SO_RCVTIMEO'),
        (t) => native.accept(fd, flags, t),
      );
      return { fd: r.fd, address: fromNative(r.address) };
    }),
    (r) => `${r.fd} (${formatAddress(r.address)})`,
  );
}

/**
 * connect(2): connects a socket to an address. On a blocking TCP socket the
 * handshake is started without waiting and then waited for, so a handled
 * signal, `timeoutMs` or SO_SNDTIMEO can end the wait; a connect that a
 * signal interrupted goes on in the kernel, and under the 'retry' policy
 * it is waited for, as Python does.
 * @throws ConnectionRefusedError (ECONNREFUSED), TimeoutError (ETIMEDOUT,
 *   also when `timeoutMs` or SO_SNDTIMEO passes), BlockingIOError
 *   (EINPROGRESS on a non-blocking fd), InterruptedError (EINTR), PermissionError
 *   (EACCES), BadFileDescriptorError (EBADF), PosixError (ENOENT for a
 *   UNIX path that does not exist, ENETUNREACH, EISCONN)
 * Teaches: connect(2) is where TCP's three-way handshake happens; the
 * client's port is picked by the kernel unless it called bind first.
 */
export function connect(fd: number, address: SocketAddress, options?: BlockingOptions): void {
  checkFd(fd);
  const a = toNative(address);
  const o = checkWaitOptions(options);
  let resume = false;
  sys(
    'connect',
    () => `${fd}, ${formatAddress(address)}`,
    onFd(fd, () =>
      blocking(
        o,
        () => socketTimeout(fd, 'SO_SNDTIMEO'),
        (t) => {
          try {
            native.connect(fd, a, resume, t);
          } catch (err) {
            // The handshake goes on in the kernel; a retry waits for it.
            if (err instanceof InterruptedError) resume = true;
            throw err;
          }
        },
      ),
    ),
  );
}

/** Options of {@link send} and {@link sendAll}. */
export interface SendOptions extends BlockingOptions {
  /** MSG_OOB, MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL (always added); any other bit is an ArgValueError. */
  flags?: number;
}

/**
 * send(2): queues bytes on a connected socket and returns how many the
 * kernel took, which may be fewer than given. A closed peer gives
 * BrokenPipeError (EPIPE), never SIGPIPE.
 * @throws BrokenPipeError (EPIPE), ConnectionResetError (ECONNRESET),
 *   BlockingIOError (EAGAIN on a non-blocking fd with a full buffer),
 *   InterruptedError (EINTR), TimeoutError (SO_SNDTIMEO or `timeoutMs`),
 *   BadFileDescriptorError (EBADF), PosixError (ENOTCONN, ENOTSOCK);
 *   TypeError naming `data`; RangeError naming `options.flags` for a flag
 *   send(2) is not given here
 * Teaches: a write to a socket can be partial, so a caller that must send
 * everything loops (see {@link sendAll}).
 */
export function send(fd: number, data: Uint8Array | string, options?: SendOptions): number {
  checkFd(fd);
  const bytes = checkBytes(data);
  const o = checkWaitOptions(options);
  const flags = o.flags === undefined ? 0 : checkFlags(o.flags, 'options.flags', sendFlags);
  return sys(
    'send',
    () => `${fd}, ${bytes.byteLength} bytes`,
    onFd(fd, () =>
      blocking(
        o,
        () => socketTimeout(fd, 'SO_SNDTIMEO'),
        (t) => native.send(fd, bytes, flags, t),
      ),
    ),
  );
}

/**
 * Sends every byte, calling send(2) until the kernel took them all.
 * Interrupted sends are resumed after the signal handlers ran (as Python's
 * sendall does), so a partial send is never lost. Returns the byte count.
 * @throws as {@link send}, except InterruptedError
 * Teaches: "send everything" is a loop around send(2), not a system call of its own.
 */
export function sendAll(fd: number, data: Uint8Array | string, options?: SendOptions): number {
  checkFd(fd);
  let bytes = checkBytes(data);
  const o = { ...checkWaitOptions(options), onInterrupt: 'retry' as const };
  let total = 0;
  do {
    const n = send(fd, bytes, o);
    total += n;
    bytes = bytes.subarray(n);
  } while (bytes.byteLength > 0);
  return total;
}

/** Options of {@link recv}. */
export interface RecvOptions extends BlockingOptions {
  /**
   * MSG_OOB, MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL (not with MSG_PEEK); any
   * other bit (MSG_TRUNC among them) is an ArgValueError.
   */
  flags?: number;
}

/**
 * recv(2): reads up to `maxBytes` from a socket. Returns an empty Buffer at
 * end of stream (the peer closed or shut down its side).
 * @throws InterruptedError (EINTR), BlockingIOError (EAGAIN: non-blocking
 *   fd, no data), TimeoutError (SO_RCVTIMEO or `timeoutMs`),
 *   ConnectionResetError (ECONNRESET), BadFileDescriptorError (EBADF),
 *   PosixError (ENOTCONN, ENOTSOCK, at once even with MSG_WAITALL);
 *   TypeError/RangeError naming `maxBytes`, or `options.flags` for a flag
 *   recv(2) is not given here (MSG_TRUNC among them)
 * Teaches: a stream has no message boundaries; one recv may return part of
 * what the peer sent, or several sends at once.
 */
export function recv(fd: number, maxBytes: number, options?: RecvOptions): Buffer {
  checkFd(fd);
  checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
  const o = checkWaitOptions(options);
  const flags = o.flags === undefined ? 0 : checkFlags(o.flags, 'options.flags', recvFlags);
  if ((flags & MSG_PEEK) !== 0 && (flags & MSG_WAITALL) !== 0)
    throw new ArgValueError('The "options.flags" argument may not combine MSG_PEEK with MSG_WAITALL');
  return sys(
    'recv',
    () => `${fd}, ${maxBytes}`,
    onFd(fd, () =>
      blocking(
        o,
        () => socketTimeout(fd, 'SO_RCVTIMEO'),
        (t) => native.recv(fd, maxBytes, flags, t),
      ),
    ),
    (b) => `${b.byteLength}`,
  );
}

/**
 * shutdown(2): ends one or both directions of a connection without closing
 * the fd; the peer's recv then sees end of stream.
 * @throws PosixError (ENOTCONN when not connected, ENOTSOCK),
 *   BadFileDescriptorError (EBADF); TypeError/RangeError naming `how`
 * Teaches: unlike close(2), shutdown acts on the connection itself, so it
 * reaches every process that holds a copy of the fd.
 */
export function shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' | number = 'SHUT_RDWR'): void {
  checkFd(fd);
  const h = checkChoice(how, { SHUT_RD, SHUT_WR, SHUT_RDWR }, 'how');
  sys(
    'shutdown',
    () => `${fd}, ${how}`,
    onFd(fd, () => native.shutdown(fd, h)),
  );
}

/**
 * close(2): releases the fd. After fork, parent and child each hold a copy;
 * the connection ends only when both closed theirs. EINTR is not reported:
 * on Linux the fd is released even then, and a retry could close a fd
 * that another thread just opened under the same number.
 * @throws BadFileDescriptorError (EBADF) for a fd that is not open;
 *   PosixError (EIO)
 * Teaches: close(2) drops one reference to an open file; the file (or
 * connection) goes away with the last one.
 */
export function close(fd: number): void {
  checkFd(fd);
  sys(
    'close',
    () => `${fd}`,
    onFd(fd, () => native.close(fd)),
  );
}

/**
 * getsockname(2): the local address a socket is bound to (the port the kernel chose for port 0).
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK)
 * Teaches: binding to port 0 lets the kernel pick a free port; this is how you learn which.
 */
export function getsockname(fd: number): SocketAddress {
  checkFd(fd);
  return sys(
    'getsockname',
    () => `${fd}`,
    onFd(fd, () => fromNative(native.getsockname(fd))),
    formatAddress,
  );
}

/**
 * getpeername(2): the address of the connected peer.
 * @throws PosixError (ENOTCONN when not connected, ENOTSOCK), BadFileDescriptorError (EBADF)
 * Teaches: a connected socket is named by four things, both addresses and both ports.
 */
export function getpeername(fd: number): SocketAddress {
  checkFd(fd);
  return sys(
    'getpeername',
    () => `${fd}`,
    onFd(fd, () => fromNative(native.getpeername(fd))),
    formatAddress,
  );
}

/**
 * socketpair(2): two connected sockets, a bidirectional pipe.
 * @throws PosixError (EMFILE, ENFILE; ENOTSUP/EOPNOTSUPP for AF_INET or
 *   AF_INET6, since Linux makes pairs only of AF_UNIX sockets);
 *   TypeError/RangeError naming `domain`, `type` or `options`
 * Teaches: made before fork(2), a socketpair is how a parent and its child talk.
 */
export function socketpair(
  domain: Domain | number = 'AF_UNIX',
  type: SocketType | number = 'SOCK_STREAM',
  options?: FdFlags,
): [number, number] {
  const d = checkChoice(domain, domains, 'domain');
  const t = checkChoice(type, types, 'type');
  const flags = fdFlags(options);
  return sys(
    'socketpair',
    () => `${domain}, ${type}`,
    () => native.socketpair(d, t, flags),
    (p) => `[${p[0]}, ${p[1]}]`,
  );
}

/**
 * pipe2(2): `[readFd, writeFd]`.
 * @throws PosixError (EMFILE, ENFILE); TypeError naming `options`
 * Teaches: a pipe is a one-way kernel buffer between two fds; reading its
 * end gives end of file only when every copy of the write end is closed.
 */
export function pipe(options?: FdFlags): [number, number] {
  const flags = fdFlags(options);
  return sys(
    'pipe',
    () => '',
    () => native.pipe(flags),
    (p) => `[${p[0]}, ${p[1]}]`,
  );
}

/**
 * dup(2): a second fd for the same open file (shared offset and flags).
 * @throws BadFileDescriptorError (EBADF), PosixError (EMFILE)
 * Teaches: a fd number is only a handle; several can refer to one open file.
 */
export function dup(fd: number): number {
  checkFd(fd);
  return sys(
    'dup',
    () => `${fd}`,
    onFd(fd, () => native.dup(fd)),
  );
}

/**
 * dup2(2): makes `newFd` refer to what `fd` refers to, closing it first if open.
 * @throws BadFileDescriptorError (EBADF) when `fd` is not open or `newFd` is
 *   past the fd limit; PosixError (EBUSY); TypeError/RangeError naming `newFd`
 * Teaches: this is how a shell points a child's stdin or stdout at a file or pipe.
 */
export function dup2(fd: number, newFd: number): number {
  checkFd(fd);
  checkFd(newFd, 'newFd');
  return sys(
    'dup2',
    () => `${fd}, ${newFd}`,
    onFd(fd, () => native.dup2(fd, newFd)),
  );
}

/**
 * fcntl(2) O_NONBLOCK: calls on the fd fail with EAGAIN (BlockingIOError)
 * instead of waiting.
 * @throws BadFileDescriptorError (EBADF); TypeError naming `on`
 * Teaches: O_NONBLOCK belongs to the open file, so every dup'd or
 * inherited copy of the fd sees the change.
 */
export function setNonBlocking(fd: number, on: boolean): void {
  checkFd(fd);
  checkBool(on, 'on');
  sys(
    'fcntl',
    () => `${fd}, F_SETFL, O_NONBLOCK=${on}`,
    onFd(fd, () => void native.fdFlag(fd, 0, on)),
  );
}

/**
 * fcntl(2) F_GETFL: whether O_NONBLOCK is set on the fd.
 * @throws BadFileDescriptorError (EBADF)
 * Teaches: blocking or not is a flag on the open file, not a kind of fd.
 */
export function isNonBlocking(fd: number): boolean {
  checkFd(fd);
  return onFd(fd, () => native.fdFlag(fd, 0) as boolean)();
}

/**
 * fcntl(2) FD_CLOEXEC: the fd is closed when the process calls execve(2).
 * @throws BadFileDescriptorError (EBADF); TypeError naming `on`
 * Teaches: fds survive execve(2) unless marked close-on-exec, which is how
 * programs leak them into the programs they start.
 */
export function setCloseOnExec(fd: number, on: boolean): void {
  checkFd(fd);
  checkBool(on, 'on');
  sys(
    'fcntl',
    () => `${fd}, F_SETFD, FD_CLOEXEC=${on}`,
    onFd(fd, () => void native.fdFlag(fd, 1, on)),
  );
}

/**
 * fcntl(2) F_GETFD: whether FD_CLOEXEC is set on the fd.
 * @throws BadFileDescriptorError (EBADF)
 * Teaches: unlike O_NONBLOCK, FD_CLOEXEC belongs to this one fd, not to
 * the open file that dup'd copies share.
 */
export function isCloseOnExec(fd: number): boolean {
  checkFd(fd);
  return onFd(fd, () => native.fdFlag(fd, 1) as boolean)();
}

// ---- socket options ------------------------------------------------------------

/** SO_LINGER's value: on close, wait up to `linger` seconds for unsent data. */
export interface Linger {
  onoff: boolean;
  linger: number;
}

/** The value type of each socket option. */
export interface SocketOptionValues {
  SO_REUSEADDR: boolean;
  SO_REUSEPORT: boolean;
  SO_KEEPALIVE: boolean;
  SO_BROADCAST: boolean;
  TCP_NODELAY: boolean;
  IPV6_V6ONLY: boolean;
  /** Seconds (fractions allowed; Linux rounds up to its clock tick, 1 to 10 ms); 0 waits forever. */
  SO_RCVTIMEO: number;
  SO_SNDTIMEO: number;
  /** Bytes. Linux doubles what you set and reports the doubled value. */
  SO_RCVBUF: number;
  SO_SNDBUF: number;
  SO_LINGER: Linger;
  /** Read-only: the pending socket error (cleared by reading it). */
  SO_ERROR: number;
  /** Read-only: SOCK_STREAM or SOCK_DGRAM. */
  SO_TYPE: number;
}
/** A socket option by name, as {@link setsockopt} and {@link getsockopt} take it. */
export type SocketOption = keyof SocketOptionValues;

const KIND_INT = 0;
const KIND_TIMEVAL = 1;
const KIND_LINGER = 2;
const options: Record<
  SocketOption,
  { level: number; name: number; kind: number; value: 'bool' | 'int' | 'seconds' | 'linger'; readOnly?: boolean }
> = {
  SO_REUSEADDR: { level: C.SOL_SOCKET, name: C.SO_REUSEADDR, kind: KIND_INT, value: 'bool' },
  SO_REUSEPORT: { level: C.SOL_SOCKET, name: C.SO_REUSEPORT, kind: KIND_INT, value: 'bool' },
  SO_KEEPALIVE: { level: C.SOL_SOCKET, name: C.SO_KEEPALIVE, kind: KIND_INT, value: 'bool' },
  SO_BROADCAST: { level: C.SOL_SOCKET, name: C.SO_BROADCAST, kind: KIND_INT, value: 'bool' },
  TCP_NODELAY: { level: C.IPPROTO_TCP, name: C.TCP_NODELAY, kind: KIND_INT, value: 'bool' },
  IPV6_V6ONLY: { level: C.IPPROTO_IPV6, name: C.IPV6_V6ONLY, kind: KIND_INT, value: 'bool' },
  SO_RCVTIMEO: { level: C.SOL_SOCKET, name: C.SO_RCVTIMEO, kind: KIND_TIMEVAL, value: 'seconds' },
  SO_SNDTIMEO: { level: C.SOL_SOCKET, name: C.SO_SNDTIMEO, kind: KIND_TIMEVAL, value: 'seconds' },
  SO_RCVBUF: { level: C.SOL_SOCKET, name: C.SO_RCVBUF, kind: KIND_INT, value: 'int' },
  SO_SNDBUF: { level: C.SOL_SOCKET, name: C.SO_SNDBUF, kind: KIND_INT, value: 'int' },
  SO_LINGER: { level: C.SOL_SOCKET, name: C.SO_LINGER, kind: KIND_LINGER, value: 'linger' },
  SO_ERROR: { level: C.SOL_SOCKET, name: C.SO_ERROR, kind: KIND_INT, value: 'int', readOnly: true },
  SO_TYPE: { level: C.SOL_SOCKET, name: C.SO_TYPE, kind: KIND_INT, value: 'int', readOnly: true },
};

function optionSpec(option: unknown) {
  if (typeof option !== 'string')
    throw new ArgTypeError(`The "option" argument must be of type string, received ${describe(option)}`);
  const spec = options[option as SocketOption];
  if (!spec)
    throw new ArgValueError(
      `The "option" argument must be one of ${Object.keys(options).join(', ')}, received '${option}'`,
    );
  return spec;
}

/**
 * setsockopt(2) with the option by name and a value of its own type:
 * `setsockopt(fd, 'SO_REUSEADDR', true)`, `setsockopt(fd, 'SO_RCVTIMEO', 1.5)`,
 * `setsockopt(fd, 'SO_LINGER', { onoff: true, linger: 0 })`.
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK;
 *   ENOPROTOOPT or ENOTSUP/EOPNOTSUPP for an option the socket's family
 *   lacks, e.g. TCP_NODELAY on AF_UNIX; EINVAL, e.g. IPV6_V6ONLY after
 *   bind); TypeError/RangeError naming `option` or `value` (RangeError for
 *   the read-only SO_ERROR and SO_TYPE)
 * Teaches: SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
 */
export function setsockopt<K extends SocketOption>(fd: number, option: K, value: SocketOptionValues[K]): void {
  checkFd(fd);
  const spec = optionSpec(option);
  if (spec.readOnly) throw new ArgValueError(`The "option" argument ${option} is read-only`);
  let v: number | boolean;
  let linger = 0;
  if (spec.value === 'bool') v = checkBool(value, 'value') ? 1 : 0;
  else if (spec.value === 'int') v = checkInt(value, 'value', 0, 2 ** 31 - 1);
  else if (spec.value === 'seconds') {
    if (typeof value !== 'number')
      throw new ArgTypeError(`The "value" argument must be of type number (seconds), received ${describe(value)}`);
    if (!Number.isFinite(value) || value < 0 || value > 1e8)
      throw new ArgRangeError(`The "value" argument must be seconds from 0 to 1e8, received ${value}`);
    v = value;
  } else {
    const l = checkObject(value, 'value');
    v = checkBool(l.onoff, 'value.onoff');
    linger = checkInt(l.linger, 'value.linger', 0, 2 ** 31 - 1);
  }
  sys(
    'setsockopt',
    () => `${fd}, ${option}, ${JSON.stringify(value)}`,
    onFd(fd, () => native.setsockopt(fd, spec.level, spec.name, spec.kind, v, linger)),
  );
}

/**
 * getsockopt(2) with the option by name; the value comes back typed as {@link setsockopt} takes it.
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK; ENOPROTOOPT
 *   or ENOTSUP/EOPNOTSUPP for an option the socket's family lacks);
 *   TypeError/RangeError naming `option`
 * Teaches: reading SO_ERROR is how a non-blocking connect reports whether it succeeded.
 */
export function getsockopt<K extends SocketOption>(fd: number, option: K): SocketOptionValues[K] {
  checkFd(fd);
  const spec = optionSpec(option);
  const raw = onFd(fd, () => native.getsockopt(fd, spec.level, spec.name, spec.kind))();
  const value = spec.value === 'bool' ? raw !== 0 : raw;
  return value as SocketOptionValues[K];
}

function socketTimeout(fd: number, option: 'SO_RCVTIMEO' | 'SO_SNDTIMEO'): number {
  try {
    return (native.getsockopt(fd, C.SOL_SOCKET, C[option], KIND_TIMEVAL) as number) * 1000;
  } catch {
    return 0;
  }
}

function checkWaitOptions<T extends BlockingOptions>(options: T | undefined): T {
  const o = checkOptions(options) as T;
  if (o.timeoutMs !== undefined) checkInt(o.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1);
  checkInterruptPolicy(o.onInterrupt, 'options.onInterrupt');
  return o;
}

// ---- small process facts the blog's server prints ------------------------------

/**
 * getpid(2): this process's id (a forked child sees its own). Never fails.
 * Teaches: after fork(2) the same code runs in two processes; the pid tells them apart.
 */
export function getpid(): number {
  return native.getpid();
}

/**
 * getppid(2): the parent's pid; 1 (or a subreaper) once the parent has exited. Never fails.
 * Teaches: an orphan is adopted by init (or a subreaper), which then reaps it.
 */
export function getppid(): number {
  return native.getppid();
}

const EINTR = 4;

/**
 * Sleeps, blocking the thread, like sleep(3) in the blog's child. A handled
 * signal interrupts it: the handlers run, then InterruptedError is thrown,
 * or under the 'retry' policy it sleeps what is left (as nanosleep(2)
 * reports the time remaining).
 * @throws InterruptedError (EINTR, syscall 'nanosleep'); TypeError/RangeError
 *   naming `seconds` or the bad option (`timeoutMs` among them: the sleep's
 *   length is its timeout)
 * Teaches: any blocking call, even a sleep, can end early when a signal is handled.
 */
export function sleep(seconds: number, options?: Pick<BlockingOptions, 'onInterrupt'>): void {
  if (typeof seconds !== 'number')
    throw new ArgTypeError(`The "seconds" argument must be of type number, received ${describe(seconds)}`);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 1e9)
    throw new ArgRangeError(`The "seconds" argument must be from 0 to 1e9, received ${seconds}`);
  const o = checkWaitOptions(options as BlockingOptions | undefined);
  // The sleep's length is its only bound: a timeoutMs would be a second one
  // that sleep(3) has no place for, so it is refused rather than ignored.
  if (o.timeoutMs !== undefined)
    throw new ArgValueError(
      `The "options.timeoutMs" argument is not taken by sleep(), whose length is its timeout; received ${o.timeoutMs}`,
    );
  const total = seconds * 1000;
  sys(
    'nanosleep',
    () => `${seconds}s`,
    () =>
      blocking(
        { onInterrupt: o.onInterrupt },
        () => total,
        (t) => {
          if (native.sleep(t >= 0 ? t : total) > 0) throw makeError(EINTR, 'nanosleep');
        },
      ),
  );
}
