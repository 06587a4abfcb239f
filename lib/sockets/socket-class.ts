/**
 * A small `Socket` class that reads like the Nim `net` module the blog
 * uses, built only on the raw calls: `setSockOpt(ReuseAddr, true)`,
 * `bindAddr(port)`, `listen()`, `getLocalAddr()`, `accept()`, `readLine()`,
 * `send()`, `close()`. The raw fd stays in reach as `socket.fd`.
 */
import type { BlockingOptions } from '../blocking.ts';
import { BadFileDescriptorError, errnoNumber } from '../errors.ts';
import {
  ArgTypeError,
  ArgValueError,
  checkChoice,
  checkInt,
  checkIp,
  checkOptions,
  checkPort,
  describe,
} from '../validate.ts';
import type { Domain, SocketAddress } from './addresses.ts';
import * as sockopts from './options.ts';
import * as syscalls from './syscalls.ts';

/** SO_REUSEADDR as Nim spells it, for `setSockOpt`: bind even while old connections sit in TIME_WAIT. */
export const ReuseAddr = 'SO_REUSEADDR';
/** SO_REUSEPORT as Nim spells it: several sockets that all set it may bind the same address and port. */
export const ReusePort = 'SO_REUSEPORT';
/** SO_KEEPALIVE as Nim spells it: probe an idle connection to notice a peer that vanished. */
export const KeepAlive = 'SO_KEEPALIVE';
/** TCP_NODELAY as Nim spells it: small writes go out at once, not held back to coalesce (Nagle's algorithm off). */
export const NoDelay = 'TCP_NODELAY';

/**
 * Thrown by {@link Socket.readLine} when a line is longer than the limit
 * (`code` 'ERR_LINE_TOO_LONG', a RangeError).
 * Teaches: a reader that frames lines must bound them, or one peer can make it buffer without end.
 */
export class LineTooLongError extends RangeError {
  readonly code = 'ERR_LINE_TOO_LONG';
  /** The limit the line went past, in bytes. */
  readonly maxLength: number;
  constructor(maxLength: number) {
    super(`readLine: line longer than ${maxLength} bytes`);
    this.maxLength = maxLength;
  }
}
Object.defineProperty(LineTooLongError.prototype, 'name', { value: 'LineTooLongError' });

/** Options of the {@link Socket} constructor. */
export interface SocketInit {
  /** The address family; default 'AF_INET'. */
  domain?: Domain;
  /** The socket type; default 'SOCK_STREAM'. Ignored with `fd`. */
  type?: syscalls.SocketType;
  /** Wrap an fd you already have instead of creating one. */
  fd?: number;
}

const CLOSED = -1;
const EBADF = errnoNumber('EBADF') as number;
const sockTypes: Record<string, number> = { SOCK_STREAM: syscalls.SOCK_STREAM, SOCK_DGRAM: syscalls.SOCK_DGRAM };

/**
 * A socket object over one fd.
 * Teaches: the same calls as the raw layer, in the order a server makes them.
 */
export class Socket {
  /** The raw fd, or -1 once closed. */
  fd: number;
  /** The address family, which decides what {@link Socket.bindAddr} binds. */
  readonly domain: Domain;
  // Bytes read past the last newline, kept for the next readLine.
  private pending: Buffer = Buffer.alloc(0);

  /**
   * socket(2) for a new TCP/IPv4 socket by default, or wrap `init.fd`.
   * @throws as {@link syscalls.socket | socket}; TypeError/RangeError naming `init`,
   *   `init.domain`, `init.type` or `init.fd`
   */
  constructor(init: SocketInit = {}) {
    const o = checkOptions(init, 'init') as SocketInit;
    const domain = o.domain ?? 'AF_INET';
    if (domain !== 'AF_INET' && domain !== 'AF_INET6' && domain !== 'AF_UNIX')
      throw new ArgValueError(
        `The "init.domain" argument must be 'AF_INET', 'AF_INET6' or 'AF_UNIX', received ${describe(domain)}`,
      );
    this.domain = domain;
    if (o.fd !== undefined) {
      this.fd = checkInt(o.fd, 'init.fd', 0, 2 ** 31 - 1);
    } else {
      const type = o.type ?? 'SOCK_STREAM';
      // Checked here so that the message names the argument as passed.
      checkChoice(type, sockTypes, 'init.type');
      this.fd = syscalls.socket(domain, type);
    }
  }

  // The fd, for a call named `syscall`. Using a closed Socket is what EBADF
  // means, so that is what it throws, without asking the kernel about a
  // number that may by now belong to another file.
  private live(syscall: string): number {
    if (this.fd === CLOSED) throw new BadFileDescriptorError(EBADF, syscall);
    return this.fd;
  }

  /**
   * setsockopt(2): `sock.setSockOpt(ReuseAddr, true)`.
   * @throws as {@link sockopts.setsockopt | setsockopt}; BadFileDescriptorError once closed
   */
  setSockOpt<K extends sockopts.SocketOption>(option: K, value: sockopts.SocketOptionValues[K]): void {
    sockopts.setsockopt(this.live('setsockopt'), option, value);
  }

  /**
   * getsockopt(2).
   * @throws as {@link sockopts.getsockopt | getsockopt}; BadFileDescriptorError once closed
   */
  getSockOpt<K extends sockopts.SocketOption>(option: K): sockopts.SocketOptionValues[K] {
    return sockopts.getsockopt(this.live('getsockopt'), option);
  }

  /**
   * bind(2) to `port` on `address`; the empty address means every interface
   * (0.0.0.0, or :: for IPv6), as in Nim.
   * @throws as {@link syscalls.bind | bind}; BadFileDescriptorError once closed;
   *   TypeError/RangeError naming `port` or `address` (a host name such as
   *   'localhost' is not resolved), TypeError for an AF_UNIX socket
   */
  bindAddr(port = 0, address = ''): void {
    checkPort(port);
    if (typeof address !== 'string')
      throw new ArgTypeError(`The "address" argument must be of type string, received ${describe(address)}`);
    if (this.domain === 'AF_UNIX')
      throw new ArgTypeError('bindAddr() is for IP sockets; use bind() with a UNIX address');
    const family = this.domain;
    const fd = this.live('bind');
    // Checked here so that the message names this method's argument.
    if (address) checkIp(address, family === 'AF_INET6' ? 6 : 4, 'address');
    syscalls.bind(fd, {
      family,
      address: address || (family === 'AF_INET6' ? '::' : '0.0.0.0'),
      port,
    } as SocketAddress);
  }

  /**
   * listen(2), with the kernel's maximum backlog unless told.
   * @throws as {@link syscalls.listen | listen}; BadFileDescriptorError once closed
   */
  listen(backlog: number = syscalls.SOMAXCONN): void {
    syscalls.listen(this.live('listen'), backlog);
  }

  /**
   * getsockname(2) as `[host, port]`.
   * @throws as {@link syscalls.getsockname | getsockname}; BadFileDescriptorError once closed
   */
  getLocalAddr(): [string, number] {
    const a = syscalls.getsockname(this.live('getsockname'));
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /**
   * getpeername(2) as `[host, port]`.
   * @throws as {@link syscalls.getpeername | getpeername}; BadFileDescriptorError once closed
   */
  getPeerAddr(): [string, number] {
    const a = syscalls.getpeername(this.live('getpeername'));
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /**
   * accept(2): blocks for the next connection. With `client`, its fd is
   * replaced by the new connection's (Nim's `accept(server, client)`),
   * otherwise a new Socket is returned.
   * @throws InterruptedError when a handled signal arrives while it waits;
   *   otherwise as {@link syscalls.accept | accept}; BadFileDescriptorError once closed;
   *   TypeError naming `client`
   */
  accept(client?: Socket, options?: syscalls.AcceptOptions): Socket {
    // Checked before accept(2), so a bad argument never strands a new fd.
    if (client !== undefined && !(client instanceof Socket))
      throw new ArgTypeError(`The "client" argument must be a Socket, received ${describe(client)}`);
    const { fd } = syscalls.accept(this.live('accept'), options);
    if (client === undefined) return new Socket({ fd, domain: this.domain });
    if (client.fd !== CLOSED) {
      const old = client.fd;
      client.fd = CLOSED;
      syscalls.close(old);
    }
    client.fd = fd;
    client.pending = Buffer.alloc(0);
    return client;
  }

  /**
   * Reads one line, without its `\n` (or `\r\n`). Partial reads are
   * buffered; bytes after the newline are kept for the next call. At end of
   * stream returns what is left (`''` when nothing). A line longer than
   * `maxLength` bytes (not counting the line ending) throws
   * {@link LineTooLongError} instead of growing without bound; the bytes
   * buffered so far are dropped, so the connection is best closed then.
   * `options.timeoutMs` bounds the whole line, however many recv(2) calls it
   * takes, so a peer that trickles bytes cannot hold the reader for ever.
   * @throws LineTooLongError; as {@link syscalls.recv | recv}; BadFileDescriptorError once
   *   closed; TypeError/RangeError naming `maxLength` or `options.timeoutMs`
   * Teaches: recv(2) returns whatever has arrived, not lines; framing is
   * the reader's job.
   */
  readLine(maxLength = 64 * 1024, options?: BlockingOptions): string {
    return this.readLineBytes(maxLength, options).toString('utf8');
  }

  /**
   * {@link Socket.readLine} as bytes: the line exactly as it arrived, in a
   * Buffer, like Nim's strings, which are bytes. Bytes that are not UTF-8
   * stay as they were instead of becoming U+FFFD.
   * @throws as {@link Socket.readLine}
   * Teaches: a socket carries bytes; text is one way of reading them.
   */
  readLineBytes(maxLength = 64 * 1024, options?: BlockingOptions): Buffer {
    checkInt(maxLength, 'maxLength', 1, 2 ** 30);
    const o = checkOptions(options) as BlockingOptions;
    const deadline =
      o.timeoutMs === undefined
        ? undefined
        : performance.now() + checkInt(o.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1);
    const fd = this.live('recv');
    for (;;) {
      const nl = this.pending.indexOf(0x0a);
      const end = nl >= 0 ? nl : this.pending.length;
      // A CR right before the newline (or at the end, its LF still to come)
      // belongs to the line ending, not to the line.
      const body = end > 0 && this.pending[end - 1] === 0x0d ? end - 1 : end;
      if (body > maxLength) {
        this.pending = Buffer.alloc(0);
        throw new LineTooLongError(maxLength);
      }
      if (nl >= 0) {
        const line = this.pending.subarray(0, body);
        this.pending = this.pending.subarray(nl + 1);
        return line;
      }
      // Never ask for more than can still make a legal line plus "\r\n".
      const left =
        deadline === undefined ? options : { ...o, timeoutMs: Math.max(0, Math.ceil(deadline - performance.now())) };
      const chunk = syscalls.recv(fd, Math.min(65536, maxLength + 2 - this.pending.length), left);
      if (chunk.length === 0) {
        const rest = this.pending;
        this.pending = Buffer.alloc(0);
        return rest;
      }
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    }
  }

  /**
   * recv(2) of up to `maxBytes`, after any bytes readLine kept.
   * @throws as {@link syscalls.recv | recv}; BadFileDescriptorError once closed
   */
  recv(maxBytes = 65536, options?: syscalls.RecvOptions): Buffer {
    checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
    const fd = this.live('recv');
    if (this.pending.length > 0) {
      const out = this.pending.subarray(0, maxBytes);
      this.pending = this.pending.subarray(out.length);
      return out;
    }
    return syscalls.recv(fd, maxBytes, options);
  }

  /**
   * Sends all of `data` (a string is sent as UTF-8) with send(2). Returns the byte count.
   * @throws as {@link syscalls.sendAll | sendAll}; BadFileDescriptorError once closed
   */
  send(data: string | Uint8Array, options?: syscalls.SendOptions): number {
    return syscalls.sendAll(this.live('send'), data, options);
  }

  /**
   * shutdown(2).
   * @throws as {@link syscalls.shutdown | shutdown}; BadFileDescriptorError once closed
   */
  shutdown(how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
    syscalls.shutdown(this.live('shutdown'), how);
  }

  /**
   * close(2); closing twice does nothing, since the Socket knows its fd is gone.
   * @throws as {@link syscalls.close | close}
   */
  close(): void {
    if (this.fd === CLOSED) return;
    const fd = this.fd;
    this.fd = CLOSED;
    this.pending = Buffer.alloc(0);
    syscalls.close(fd);
  }

  /** True until close(). */
  get isOpen(): boolean {
    return this.fd !== CLOSED;
  }
}
