/**
 * Typed system errors. Every failing call throws a {@link PosixError}
 * shaped like Node's own SystemError (`code`, `errno`, `syscall`, and
 * `address`/`port`/`path` where known), or one of its subclasses, named
 * after Python's PEP 3151 hierarchy, so callers branch with `instanceof` or
 * on `err.code` and never parse messages.
 *
 * The classes live here in JavaScript; the addon receives {@link makeError}
 * at start-up and builds every error through it.
 */
import * as os from 'node:os';
import * as util from 'node:util';

const errnoNames = os.constants.errno as Record<string, number>;
const nameOfErrno = new Map<number, string>();
for (const [name, value] of Object.entries(errnoNames)) {
  // EWOULDBLOCK and EAGAIN share a number; keep the first (EAGAIN) name.
  if (!nameOfErrno.has(value)) nameOfErrno.set(value, name);
}
const systemMessages = util.getSystemErrorMap();

/**
 * The symbolic name of an errno value, e.g. `errnoName(4) === 'EINTR'` (errno(3)).
 * Never throws; an unknown number gives `'Unknown system error N'`.
 * Teaches: errno numbers differ between systems; the names are what is portable.
 */
export function errnoName(errno: number): string {
  return nameOfErrno.get(errno) ?? `Unknown system error ${errno}`;
}

/**
 * The errno value of a symbolic name, e.g. `errnoNumber('EINTR') === 4` (errno(3)).
 * Never throws; an unknown name gives `undefined`.
 * Teaches: the C headers define each errno name as a small integer, this system's own.
 */
export function errnoNumber(code: string): number | undefined {
  return errnoNames[code];
}

// Errors libuv has no message for (its map covers what its own calls
// return); worded as the C library's strerror(3), in libuv's lower case.
const extraMessages: Record<string, string> = {
  EBADMSG: 'bad message',
  ECHILD: 'no child processes',
  EDEADLK: 'resource deadlock avoided',
  EDOM: 'numerical argument out of domain',
  EDQUOT: 'disk quota exceeded',
  EIDRM: 'identifier removed',
  EINPROGRESS: 'operation now in progress',
  EMULTIHOP: 'multihop attempted',
  ENETRESET: 'network dropped connection on reset',
  ENOEXEC: 'exec format error',
  ENOLCK: 'no locks available',
  ENOLINK: 'link has been severed',
  ENOMSG: 'no message of desired type',
  ENOSR: 'out of streams resources',
  ENOSTR: 'device not a stream',
  ESTALE: 'stale file handle',
  ETIME: 'timer expired',
};

/**
 * The system's description of an errno value, as Node words it (strerror(3)).
 * Never throws; an unknown number gives `'unknown error N'`.
 * Teaches: the text perror(3) prints is a lookup from the number, nothing more.
 */
export function errnoMessage(errno: number): string {
  return systemMessages.get(-errno)?.[1] ?? extraMessages[errnoName(errno)] ?? `unknown error ${errno}`;
}

/** Where an error happened, when the call was about an address or a process. */
export interface PosixErrorInfo {
  address?: string;
  port?: number;
  path?: string;
  pid?: number;
  /** The fd the call was made on; named in the message when nothing else locates the error. */
  fd?: number;
  /** A blocking call gave up because SO_RCVTIMEO/SO_SNDTIMEO (or a deadline) passed. */
  timedOut?: boolean;
}

/**
 * A failed system call. `code` is the errno name (`'EINTR'`), `errno` its
 * positive number, `syscall` the call that failed. The message reads like
 * Node's: `bind EADDRINUSE: address already in use 0.0.0.0:9093`; a timeout
 * reads `recv timed out (EAGAIN: resource temporarily unavailable) fd 7`.
 *
 * Teaches: every system call fails by setting errno; here that number
 * becomes an object you can branch on.
 */
export class PosixError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  declare readonly address?: string;
  declare readonly port?: number;
  declare readonly path?: string;
  declare readonly pid?: number;
  declare readonly fd?: number;
  /** True when a blocking call ran out of time (SO_RCVTIMEO, SO_SNDTIMEO or `timeoutMs`). */
  declare readonly timedOut?: boolean;

  constructor(errno: number, syscall: string, info: PosixErrorInfo = {}) {
    const code = errnoName(errno);
    let where = '';
    if (info.path !== undefined) where = ` ${info.path}`;
    else if (info.address !== undefined)
      where = info.port !== undefined ? ` ${info.address}:${info.port}` : ` ${info.address}`;
    else if (info.pid !== undefined) where = ` pid ${info.pid}`;
    else if (info.fd !== undefined) where = ` fd ${info.fd}`;
    // A timeout says so first: "recv timed out (EAGAIN: resource temporarily unavailable) fd 7".
    const what = info.timedOut ? `timed out (${code}: ${errnoMessage(errno)})` : `${code}: ${errnoMessage(errno)}`;
    super(`${syscall} ${what}${where}`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (info.address !== undefined) this.address = info.address;
    if (info.port !== undefined) this.port = info.port;
    if (info.path !== undefined) this.path = info.path;
    if (info.pid !== undefined) this.pid = info.pid;
    if (info.fd !== undefined) this.fd = info.fd;
    if (info.timedOut) this.timedOut = true;
  }
}

/** EINTR: a signal arrived while the call was blocked. Teaches: signal(7), "Interruption of system calls". */
export class InterruptedError extends PosixError {}
/**
 * EAGAIN/EWOULDBLOCK/EINPROGRESS/EALREADY: a non-blocking call would have
 * had to wait; also fork(2)'s EAGAIN (a process limit reached).
 * Teaches: a non-blocking fd turns "wait" into an error you retry when poll(2) says ready.
 */
export class BlockingIOError extends PosixError {}
/**
 * Base class of the four connection errors, as in Python.
 * Teaches: a peer can end a connection in several ways, and each has its own errno.
 */
export class ConnectionError extends PosixError {}
/**
 * ECONNREFUSED: nobody listens at that address (connect(2)).
 * Teaches: for TCP the peer's kernel answers a SYN to a closed port with RST.
 */
export class ConnectionRefusedError extends ConnectionError {}
/**
 * ECONNRESET: the peer reset the connection (it closed with unread data, or sent RST).
 * Teaches: closing a socket with unread data aborts the connection instead of ending it cleanly.
 */
export class ConnectionResetError extends ConnectionError {}
/**
 * ECONNABORTED: the connection was aborted before accept(2) took it.
 * Teaches: a queued connection can die in the backlog before the server accepts it.
 */
export class ConnectionAbortedError extends ConnectionError {}
/**
 * EPIPE/ESHUTDOWN: writing to a connection the other side closed. This package never raises SIGPIPE.
 * Teaches: in C the same write would also raise SIGPIPE, whose default action kills the process.
 */
export class BrokenPipeError extends ConnectionError {}
/**
 * EADDRINUSE: bind(2) to an address another socket holds (see SO_REUSEADDR).
 * Teaches: one address, one socket, unless every socket on it asks to share (SO_REUSEPORT).
 */
export class AddressInUseError extends PosixError {}
/**
 * EACCES/EPERM: not allowed (a port below 1024 without privilege, kill(2) of another user's process).
 * Teaches: the kernel checks the caller's user ids and capabilities at each call.
 */
export class PermissionError extends PosixError {}
/**
 * EBADF: the fd is not open (closed twice, or never opened).
 * Teaches: a fd is only a number; once closed it may be reused by the next open.
 */
export class BadFileDescriptorError extends PosixError {}
/**
 * ETIMEDOUT, or a blocking call whose SO_RCVTIMEO/SO_SNDTIMEO ran out (code EAGAIN).
 * Teaches: the kernel reports a socket timeout as EAGAIN, the same code as "would block".
 */
export class TimeoutError extends PosixError {}
/**
 * ECHILD: waitpid(2) has no such child to wait for.
 * Teaches: a process can wait only for its own children, and only once for each.
 */
export class ChildProcessError extends PosixError {}
/**
 * ESRCH: no process with that pid (kill(2)).
 * Teaches: pids name live (or zombie) processes only, and are reused once reaped.
 */
export class ProcessLookupError extends PosixError {}

const classes: Record<string, typeof PosixError> = {
  EINTR: InterruptedError,
  EAGAIN: BlockingIOError,
  EINPROGRESS: BlockingIOError,
  EALREADY: BlockingIOError,
  ECONNREFUSED: ConnectionRefusedError,
  ECONNRESET: ConnectionResetError,
  ECONNABORTED: ConnectionAbortedError,
  EPIPE: BrokenPipeError,
  ESHUTDOWN: BrokenPipeError,
  EADDRINUSE: AddressInUseError,
  EACCES: PermissionError,
  EPERM: PermissionError,
  EBADF: BadFileDescriptorError,
  ETIMEDOUT: TimeoutError,
  ECHILD: ChildProcessError,
  ESRCH: ProcessLookupError,
};

for (const cls of [PosixError, ConnectionError, ...new Set(Object.values(classes))]) {
  Object.defineProperty(cls.prototype, 'name', { value: cls.name, enumerable: false, configurable: true });
}

/**
 * Builds the right error class for an errno. The addon calls this for every
 * failure; it is exported for code that wraps other system calls the same way.
 * Never throws: an errno without a class of its own gives a plain PosixError.
 * Teaches: a system call reports failure as one number, errno; the class
 * is chosen from that number alone (and from whether a timeout ran out).
 */
export function makeError(errno: number, syscall: string, info: PosixErrorInfo = {}): PosixError {
  const cls = info.timedOut ? TimeoutError : (classes[errnoName(errno)] ?? PosixError);
  return new cls(errno, syscall, info);
}

/**
 * True when `err` is a system error with that code (`'EMFILE'`) or errno
 * number, whatever its class. Names that share a number on this platform
 * match each other: `isErrno(err, 'EWOULDBLOCK')` is true for EAGAIN, and
 * `'EOPNOTSUPP'` for ENOTSUP. Works on Node's own errors too (whose errno
 * is negative).
 * Teaches: branch on the errno name, not on the message text.
 */
export function isErrno(err: unknown, code: string | number): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; errno?: unknown };
  if (typeof code === 'number') return e.errno === code || e.errno === -code;
  if (e.code === code) return true;
  const n = errnoNames[code];
  return n !== undefined && typeof e.errno === 'number' && Math.abs(e.errno) === n;
}
