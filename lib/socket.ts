/**
 * A small `Socket` class that reads like the Nim `net` module the blog
 * uses, built only on the raw calls: `setSockOpt(ReuseAddr, true)`,
 * `bindAddr(port)`, `listen()`, `getLocalAddr()`, `accept()`, `readLine()`,
 * `send()`, `close()`. The raw fd stays in reach as `socket.fd`.
 */
import * as raw from './sockets';
import type { BlockingOptions } from './runtime';
import { BadFileDescriptorError } from './errors';
import { checkInt, checkOptions, checkPort, describe } from './validate';

/** Option names as Nim spells them, for `setSockOpt`. */
export const ReuseAddr = 'SO_REUSEADDR';
export const ReusePort = 'SO_REUSEPORT';
export const KeepAlive = 'SO_KEEPALIVE';
export const NoDelay = 'TCP_NODELAY';

/** Thrown by {@link Socket.readLine} when a line is longer than the limit. */
export class LineTooLongError extends RangeError {
  readonly code = 'ERR_LINE_TOO_LONG';
  constructor(readonly maxLength: number) {
    super(`readLine: line longer than ${maxLength} bytes`);
  }
}
Object.defineProperty(LineTooLongError.prototype, 'name', { value: 'LineTooLongError' });

/** Options of the {@link Socket} constructor. */
export interface SocketInit {
  domain?: raw.Domain;
  type?: raw.SocketType;
  /** Wrap an fd you already have instead of creating one. */
  fd?: number;
}

const CLOSED = -1;
const EBADF = 9;

/**
 * A socket object over one fd.
 * Teaches: the same calls as the raw layer, in the order a server makes them.
 */
export class Socket {
  /** The raw fd, or -1 once closed. */
  fd: number;
  readonly domain: raw.Domain;
  // Bytes read past the last newline, kept for the next readLine.
  private pending: Buffer = Buffer.alloc(0);

  /** socket(2) for a new TCP/IPv4 socket by default, or wrap `init.fd`. */
  constructor(init: SocketInit = {}) {
    const o = checkOptions(init, 'init') as SocketInit;
    const domain = o.domain ?? 'AF_INET';
    if (domain !== 'AF_INET' && domain !== 'AF_INET6' && domain !== 'AF_UNIX')
      throw new RangeError(
        `The "init.domain" argument must be 'AF_INET', 'AF_INET6' or 'AF_UNIX', received ${describe(domain)}`,
      );
    this.domain = domain;
    this.fd =
      o.fd !== undefined ? checkInt(o.fd, 'init.fd', 0, 2 ** 31 - 1) : raw.socket(domain, o.type ?? 'SOCK_STREAM');
  }

  // The fd, for a call named `syscall`. Using a closed Socket is what EBADF
  // means, so that is what it throws, without asking the kernel about a
  // number that may by now belong to another file.
  private live(syscall: string): number {
    if (this.fd === CLOSED) throw new BadFileDescriptorError(EBADF, syscall);
    return this.fd;
  }

  /** setsockopt(2): `sock.setSockOpt(ReuseAddr, true)`. */
  setSockOpt<K extends raw.SocketOption>(option: K, value: raw.SocketOptionValues[K]): void {
    raw.setsockopt(this.live('setsockopt'), option, value);
  }

  /** getsockopt(2). */
  getSockOpt<K extends raw.SocketOption>(option: K): raw.SocketOptionValues[K] {
    return raw.getsockopt(this.live('getsockopt'), option);
  }

  /**
   * bind(2) to `port` on `address`; the empty address means every interface
   * (0.0.0.0, or :: for IPv6), as in Nim.
   */
  bindAddr(port = 0, address = ''): void {
    checkPort(port);
    if (typeof address !== 'string')
      throw new TypeError(`The "address" argument must be of type string, received ${describe(address)}`);
    if (this.domain === 'AF_UNIX')
      throw new TypeError('bindAddr() is for IP sockets; use raw.bind() with a UNIX address');
    const family = this.domain;
    raw.bind(this.live('bind'), {
      family,
      address: address || (family === 'AF_INET6' ? '::' : '0.0.0.0'),
      port,
    } as raw.SocketAddress);
  }

  /** listen(2), with the kernel's maximum backlog unless told. */
  listen(backlog: number = raw.SOMAXCONN): void {
    raw.listen(this.live('listen'), backlog);
  }

  /** getsockname(2) as `[host, port]`. */
  getLocalAddr(): [string, number] {
    const a = raw.getsockname(this.live('getsockname'));
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /** getpeername(2) as `[host, port]`. */
  getPeerAddr(): [string, number] {
    const a = raw.getpeername(this.live('getpeername'));
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /**
   * accept(2): blocks for the next connection. With `client`, its fd is
   * replaced by the new connection's (Nim's `accept(server, client)`),
   * otherwise a new Socket is returned.
   * @throws InterruptedError when a handled signal arrives while it waits
   */
  accept(client?: Socket, options?: raw.AcceptOptions): Socket {
    // Checked before accept(2), so a bad argument never strands a new fd.
    if (client !== undefined && !(client instanceof Socket))
      throw new TypeError(`The "client" argument must be a Socket, received ${describe(client)}`);
    const { fd } = raw.accept(this.live('accept'), options);
    if (client === undefined) return new Socket({ fd, domain: this.domain });
    if (client.fd !== CLOSED) {
      const old = client.fd;
      client.fd = CLOSED;
      raw.close(old);
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
   * Teaches: recv(2) returns whatever has arrived, not lines; framing is
   * the reader's job.
   */
  readLine(maxLength = 64 * 1024, options?: BlockingOptions): string {
    checkInt(maxLength, 'maxLength', 1, 2 ** 30);
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
        return line.toString('utf8');
      }
      // Never ask for more than can still make a legal line plus "\r\n".
      const chunk = raw.recv(fd, Math.min(65536, maxLength + 2 - this.pending.length), options);
      if (chunk.length === 0) {
        const rest = this.pending.toString('utf8');
        this.pending = Buffer.alloc(0);
        return rest;
      }
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    }
  }

  /** recv(2) of up to `maxBytes`, after any bytes readLine kept. */
  recv(maxBytes = 65536, options?: raw.RecvOptions): Buffer {
    checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
    const fd = this.live('recv');
    if (this.pending.length > 0) {
      const out = this.pending.subarray(0, maxBytes);
      this.pending = this.pending.subarray(out.length);
      return out;
    }
    return raw.recv(fd, maxBytes, options);
  }

  /** Sends all of `data` (a string is sent as UTF-8). Returns the byte count. */
  send(data: string | Uint8Array, options?: raw.SendOptions): number {
    return raw.sendAll(this.live('send'), data, options);
  }

  /** shutdown(2). */
  shutdown(how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
    raw.shutdown(this.live('shutdown'), how);
  }

  /** close(2); closing twice does nothing. */
  close(): void {
    if (this.fd === CLOSED) return;
    const fd = this.fd;
    this.fd = CLOSED;
    this.pending = Buffer.alloc(0);
    raw.close(fd);
  }

  /** True until close(). */
  get isOpen(): boolean {
    return this.fd !== CLOSED;
  }
}
