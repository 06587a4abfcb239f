/**
 * The raw socket calls: one function per system call, on integer fds, named
 * after the call. Each validates its arguments, calls the addon
 * (native/binding/sockets.cc) and throws a {@link PosixError} subclass,
 * carrying the fd, when the kernel says no.
 */
import { C, native } from '../addon.ts';
import { InterruptedError, PosixError } from '../errors.ts';
import type { NativeAddressOut } from '../native.ts';
import { blocking, checkBlockingOptions, type BlockingOptions } from '../blocking.ts';
import { traced } from '../trace.ts';
import { beforeClose } from './closing.ts';
import {
  ArgValueError,
  checkBool,
  checkBytes,
  checkChoice,
  checkFd,
  checkFlags,
  checkInt,
  checkOptions,
} from '../validate.ts';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  formatAddress,
  fromNative,
  toNative,
  type Domain,
  type SocketAddress,
} from './addresses.ts';

// ---- constants ---------------------------------------------------------------

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

/** A socket type by name, as {@link socket} and {@link socketpair} take it. */
export type SocketType = 'SOCK_STREAM' | 'SOCK_DGRAM';

const domains: Record<string, number> = { AF_INET, AF_INET6, AF_UNIX };
// The flags each call supports; the addon checks the same sets. MSG_TRUNC
// is not among them: it makes recv(2) report more bytes than it had room for.
const sendFlags: Record<string, number> = { MSG_OOB, MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL: C.MSG_NOSIGNAL };
const recvFlags: Record<string, number> = { MSG_OOB, MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL };
const types: Record<string, number> = { SOCK_STREAM, SOCK_DGRAM };

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

// socket(2) and socketpair(2) take the same three arguments.
function endpointArgs(domain: unknown, type: unknown, options: unknown): [number, number, number] {
  return [checkChoice(domain, domains, 'domain'), checkChoice(type, types, 'type'), fdFlags(options)];
}

/**
 * socket(2): creates an endpoint and returns its fd.
 * `socket('AF_INET', 'SOCK_STREAM')`; the numeric constants work too.
 * @throws PosixError (EMFILE, EAFNOSUPPORT, ...)
 * Teaches: a socket is just a file descriptor until you bind or connect it.
 */
export function socket(domain: Domain | number, type: SocketType | number, options?: FdFlags): number {
  const [d, t, flags] = endpointArgs(domain, type, options);
  return traced(
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
  traced(
    'bind',
    () => `${fd}, ${formatAddress(address)}`,
    () => {
      try {
        native.bind(fd, a);
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
  traced(
    'listen',
    () => `${fd}, ${backlog}`,
    () => native.listen(fd, backlog),
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
  const o = checkBlockingOptions(options);
  const flags = fdFlags({ nonblock: o.nonblock, cloexec: o.cloexec });
  return traced(
    'accept',
    () => `${fd}`,
    () => {
      const r = blocking(
        o,
        () => native.socketTimeout(fd, C.SO_RCVTIMEO),
        (t) => native.accept(fd, flags, t),
      );
      return { fd: r.fd, address: fromNative(r.address) };
    },
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
  const o = checkBlockingOptions(options);
  let resume = false;
  traced(
    'connect',
    () => `${fd}, ${formatAddress(address)}`,
    () =>
      blocking(
        o,
        () => native.socketTimeout(fd, C.SO_SNDTIMEO),
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
 *   TypeError naming `data`
 * Teaches: a write to a socket can be partial, so a caller that must send
 * everything loops (see {@link sendAll}).
 */
export function send(fd: number, data: Uint8Array | string, options?: SendOptions): number {
  checkFd(fd);
  const bytes = checkBytes(data);
  const o = checkBlockingOptions(options);
  const flags = o.flags === undefined ? 0 : checkFlags(o.flags, 'options.flags', sendFlags);
  return traced(
    'send',
    () => `${fd}, ${bytes.byteLength} bytes`,
    () =>
      blocking(
        o,
        () => native.socketTimeout(fd, C.SO_SNDTIMEO),
        (t) => native.send(fd, bytes, flags, t),
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
  const o = { ...checkBlockingOptions(options), onInterrupt: 'retry' as const };
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
 *   PosixError (ENOTCONN, ENOTSOCK); TypeError/RangeError naming `maxBytes`
 * Teaches: a stream has no message boundaries; one recv may return part of
 * what the peer sent, or several sends at once.
 */
export function recv(fd: number, maxBytes: number, options?: RecvOptions): Buffer {
  checkFd(fd);
  checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
  const o = checkBlockingOptions(options);
  const flags = o.flags === undefined ? 0 : checkFlags(o.flags, 'options.flags', recvFlags);
  if ((flags & MSG_PEEK) !== 0 && (flags & MSG_WAITALL) !== 0)
    throw new ArgValueError('The "options.flags" argument may not combine MSG_PEEK with MSG_WAITALL');
  return traced(
    'recv',
    () => `${fd}, ${maxBytes}`,
    () =>
      blocking(
        o,
        () => native.socketTimeout(fd, C.SO_RCVTIMEO),
        (t) => native.recv(fd, maxBytes, flags, t),
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
  traced(
    'shutdown',
    () => `${fd}, ${how}`,
    () => native.shutdown(fd, h),
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
  beforeClose(fd);
  traced(
    'close',
    () => `${fd}`,
    () => native.close(fd),
  );
}

/**
 * getsockname(2): the local address a socket is bound to (the port the kernel chose for port 0).
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK)
 * Teaches: binding to port 0 lets the kernel pick a free port; this is how you learn which.
 */
export function getsockname(fd: number): SocketAddress {
  return addressOf('getsockname', fd);
}

/**
 * getpeername(2): the address of the connected peer.
 * @throws PosixError (ENOTCONN when not connected, ENOTSOCK), BadFileDescriptorError (EBADF)
 * Teaches: a connected socket is named by four things, both addresses and both ports.
 */
export function getpeername(fd: number): SocketAddress {
  return addressOf('getpeername', fd);
}

// getsockname(2) and getpeername(2) differ only in which end they name.
function addressOf(call: 'getsockname' | 'getpeername', fd: number): SocketAddress {
  checkFd(fd);
  return traced(
    call,
    () => `${fd}`,
    () => fromNative(native[call](fd)),
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
  const [d, t, flags] = endpointArgs(domain, type, options);
  return traced(
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
  return traced(
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
  return traced(
    'dup',
    () => `${fd}`,
    () => native.dup(fd),
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
  if (fd !== newFd) beforeClose(newFd, 'dup2');
  return traced(
    'dup2',
    () => `${fd}, ${newFd}`,
    () => native.dup2(fd, newFd),
  );
}

// fcntl(2) on one flag: O_NONBLOCK (F_GETFL/F_SETFL, a flag of the open
// file) or FD_CLOEXEC (F_GETFD/F_SETFD, a flag of this fd).
const fcntlFlags = {
  O_NONBLOCK: { flag: C.O_NONBLOCK, get: 'F_GETFL', set: 'F_SETFL' },
  FD_CLOEXEC: { flag: C.FD_CLOEXEC, get: 'F_GETFD', set: 'F_SETFD' },
};

function setFdFlag(fd: number, on: boolean, name: keyof typeof fcntlFlags): void {
  checkFd(fd);
  checkBool(on, 'on');
  const f = fcntlFlags[name];
  traced(
    'fcntl',
    () => `${fd}, ${f.set}, ${name}=${on}`,
    () => void native.fdFlag(fd, f.flag, on),
  );
}

function getFdFlag(fd: number, name: keyof typeof fcntlFlags): boolean {
  checkFd(fd);
  const f = fcntlFlags[name];
  return traced(
    'fcntl',
    () => `${fd}, ${f.get}`,
    () => native.fdFlag(fd, f.flag) as boolean,
    (on) => (on ? name : '0'),
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
  setFdFlag(fd, on, 'O_NONBLOCK');
}

/**
 * fcntl(2) F_GETFL: whether O_NONBLOCK is set on the fd.
 * @throws BadFileDescriptorError (EBADF)
 * Teaches: blocking or not is a flag on the open file, not a kind of fd.
 */
export function isNonBlocking(fd: number): boolean {
  return getFdFlag(fd, 'O_NONBLOCK');
}

/**
 * fcntl(2) FD_CLOEXEC: the fd is closed when the process calls execve(2).
 * @throws BadFileDescriptorError (EBADF); TypeError naming `on`
 * Teaches: fds survive execve(2) unless marked close-on-exec, which is how
 * programs leak them into the programs they start.
 */
export function setCloseOnExec(fd: number, on: boolean): void {
  setFdFlag(fd, on, 'FD_CLOEXEC');
}

/**
 * fcntl(2) F_GETFD: whether FD_CLOEXEC is set on the fd.
 * @throws BadFileDescriptorError (EBADF)
 * Teaches: unlike O_NONBLOCK, FD_CLOEXEC belongs to this one fd, not to
 * the open file that dup'd copies share.
 */
export function isCloseOnExec(fd: number): boolean {
  return getFdFlag(fd, 'FD_CLOEXEC');
}

/**
 * setsockopt(2) SO_ATTACH_FILTER (socket(7)) with a classic BPF program that
 * drops every incoming SYN (the first segment of a new handshake) on a
 * listening TCP socket. No new connection is queued from then on; the ones
 * already queued stay there for accept(2). A client's SYN goes unanswered,
 * so it retries, and finds the port closed once the server has closed it.
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK, ENOMEM)
 * Teaches: close(2) on a listener resets every connection still queued; to
 * stop without losing any, a server first stops new handshakes, then
 * accepts what is queued, then closes.
 */
export function dropNewConnections(fd: number): void {
  checkFd(fd);
  traced(
    'setsockopt',
    () => `${fd}, SO_ATTACH_FILTER, drop SYN`,
    () => native.dropSyns(fd),
  );
}
