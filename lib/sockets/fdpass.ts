/**
 * Messages with fds or addresses: sendFds/recvFds pass open fds to another
 * process over a UNIX socket (sendmsg(2)/recvmsg(2) with SCM_RIGHTS), and
 * sendto/recvfrom carry an address for unconnected datagram sockets.
 * Blocking, under the EINTR policy, like the other calls that wait; the
 * promise forms are in lib/promises/fdpass.ts.
 */
import { C, native } from '../addon.ts';
import { blocking, checkBlockingOptions, type BlockingOptions } from '../blocking.ts';
import { traced } from '../trace.ts';
import { ArgTypeError, ArgValueError, checkBool, checkBytes, checkFd, checkInt } from '../validate.ts';
import { formatAddress, fromNative, toNative, type SocketAddress } from './addresses.ts';

/** SCM_MAX_FD: the most fds one message may carry. */
export const MAX_PASSED_FDS = 253;

/** Options of {@link sendFds} and {@link sendto}. */
export interface SendMsgOptions extends BlockingOptions {
  /** MSG_MORE or MSG_DONTWAIT. */
  flags?: number;
}

/** Options of {@link recvFds} and {@link recvfrom}. */
export interface RecvMsgOptions extends BlockingOptions {
  /** MSG_DONTWAIT. */
  flags?: number;
  /** Received fds are close-on-exec (MSG_CMSG_CLOEXEC); default true. */
  cloexec?: boolean;
}

/** What {@link recvFds} returns: the bytes, the fds that came with them (now this process's), the sender. */
export interface ReceivedMessage {
  data: Buffer;
  fds: number[];
  address: SocketAddress;
}

/** Checks the arguments of sendFds; not exported from the package. */
export function checkSendFds(fd: unknown, data: unknown, fds: unknown): { bytes: Uint8Array; list: number[] } {
  checkFd(fd);
  const bytes = checkBytes(data);
  if (!Array.isArray(fds)) throw new ArgTypeError('The "fds" argument must be an array of fds');
  if (fds.length > MAX_PASSED_FDS) throw new ArgValueError(`The "fds" argument holds more than ${MAX_PASSED_FDS} fds`);
  const list = fds.map((f, i) => checkFd(f, `fds[${i}]`));
  // A stream socket carries fds with bytes only: zero bytes send nothing.
  if (list.length > 0 && bytes.byteLength === 0)
    throw new ArgValueError('The "data" argument must hold at least one byte to carry fds');
  return { bytes, list };
}

/** Checks the arguments of recvFds; not exported from the package. */
export function checkRecvFds(fd: unknown, maxBytes: unknown, maxFds: unknown, cloexec: unknown): boolean {
  checkFd(fd);
  checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
  checkInt(maxFds, 'maxFds', 0, MAX_PASSED_FDS);
  return cloexec === undefined ? true : checkBool(cloexec, 'options.cloexec');
}

/** The flags option of a message call; not exported from the package. */
export function msgFlags(flags: unknown, allowed: number): number {
  if (flags === undefined) return 0;
  const f = checkInt(flags, 'options.flags', 0, 2 ** 31 - 1);
  if (f & ~allowed) throw new ArgValueError('The "options.flags" argument holds unsupported bits');
  return f;
}

/** Decodes a received message; not exported from the package. */
export function received(r: {
  data: Buffer;
  fds: number[];
  address: Parameters<typeof fromNative>[0];
}): ReceivedMessage {
  return { data: r.data, fds: r.fds, address: fromNative(r.address) };
}

function sendmsg(
  syscall: 'sendmsg' | 'sendto',
  fd: number,
  bytes: Uint8Array,
  fds: number[],
  to: SocketAddress | null,
  options: SendMsgOptions | undefined,
): number {
  const o = checkBlockingOptions(options);
  const flags = msgFlags(o.flags, C.MSG_MORE | C.MSG_DONTWAIT);
  const a = to === null ? null : toNative(to);
  return traced(
    syscall,
    () =>
      `${fd}, ${bytes.byteLength} bytes${fds.length ? `, fds [${fds.join(', ')}]` : ''}${to ? `, ${formatAddress(to)}` : ''}`,
    () =>
      blocking(
        o,
        () => native.socketTimeout(fd, C.SO_SNDTIMEO),
        (t) => native.sendmsg(fd, bytes, fds, a, flags, t, false),
      ),
  );
}

function recvmsg(
  syscall: string,
  fd: number,
  maxBytes: number,
  maxFds: number,
  options?: RecvMsgOptions,
): ReceivedMessage {
  const o = checkBlockingOptions(options);
  const cloexec = checkRecvFds(fd, maxBytes, maxFds, o.cloexec);
  const flags = msgFlags(o.flags, C.MSG_DONTWAIT);
  return traced(
    syscall,
    () => `${fd}, ${maxBytes}, ${maxFds}`,
    () =>
      received(
        blocking(
          o,
          () => native.socketTimeout(fd, C.SO_RCVTIMEO),
          (t) => native.recvmsg(fd, maxBytes, maxFds, flags, cloexec, t, false)!,
        ),
      ),
    (m) => `${m.data.byteLength}${m.fds.length ? ` fds [${m.fds.join(', ')}]` : ''}`,
  );
}

/**
 * sendmsg(2) with SCM_RIGHTS: sends `data` (at least one byte) and the open
 * fds `fds` (up to 253) over a UNIX stream or datagram socket. The receiver
 * gets fds of its own for the same open files; the sender's stay open.
 * Returns the bytes sent (the fds go with the first byte).
 * @throws as send() (BrokenPipeError, TimeoutError, InterruptedError,
 *   BlockingIOError with MSG_DONTWAIT), BadFileDescriptorError when a fd in
 *   `fds` is not open, PosixError (EINVAL on a socket that is not AF_UNIX,
 *   ETOOMANYREFS); TypeError/RangeError naming `fds` or `data`
 * Teaches: an open file can be handed to another process; the fd number
 * is only its name in each process's table.
 */
export function sendFds(fd: number, data: Uint8Array | string, fds: number[], options?: SendMsgOptions): number {
  const { bytes, list } = checkSendFds(fd, data, fds);
  return sendmsg('sendmsg', fd, bytes, list, null, options);
}

/**
 * recvmsg(2) with SCM_RIGHTS: up to `maxBytes` bytes and up to `maxFds` fds
 * (close-on-exec unless `cloexec: false`), and the sender's address.
 * A message with more fds than `maxFds`, or whose control data the kernel
 * truncated (MSG_CTRUNC), throws PosixError EMSGSIZE after closing every fd
 * that arrived: none leaks. Its bytes are consumed.
 * @throws PosixError (EMSGSIZE); as recv() (TimeoutError,
 *   InterruptedError, BlockingIOError with MSG_DONTWAIT);
 *   TypeError/RangeError naming `maxBytes`, `maxFds` or an option
 * Teaches: received fds are new entries in this process's fd table, so the
 * receiver must close them, even the ones it did not want.
 */
export function recvFds(fd: number, maxBytes: number, maxFds: number, options?: RecvMsgOptions): ReceivedMessage {
  return recvmsg('recvmsg', fd, maxBytes, maxFds, options);
}

/**
 * sendto(2): sends one datagram to `address` on an unconnected SOCK_DGRAM
 * socket (or as send(2) on a connected one). Returns the bytes sent.
 * @throws as send(); PosixError (EMSGSIZE for a datagram too large,
 *   EDESTADDRREQ); TypeError/RangeError naming `address` or `data`
 * Teaches: a datagram socket needs no connection; every message names its destination.
 */
export function sendto(
  fd: number,
  data: Uint8Array | string,
  address: SocketAddress,
  options?: SendMsgOptions,
): number {
  checkFd(fd);
  return sendmsg('sendto', fd, checkBytes(data), [], address, options);
}

/**
 * recvfrom(2): one datagram (up to `maxBytes`; the rest of a longer one is
 * dropped, as the kernel does) and the address it came from.
 * @throws as recv(); TypeError/RangeError naming `maxBytes`
 * Teaches: on a datagram socket the reply address comes with each message.
 */
export function recvfrom(
  fd: number,
  maxBytes: number,
  options?: RecvMsgOptions,
): { data: Buffer; address: SocketAddress } {
  const m = recvmsg('recvfrom', fd, maxBytes, 0, options);
  return { data: m.data, address: m.address };
}
