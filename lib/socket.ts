/**
 * A small `Socket` class that reads like the Nim `net` module the blog
 * uses, built only on the raw calls: `setSockOpt(ReuseAddr, true)`,
 * `bindAddr(port)`, `listen()`, `getLocalAddr()`, `accept()`, `readLine()`,
 * `send()`, `close()`. The raw fd stays in reach as `socket.fd`.
 */
import * as raw from './sockets';
import type { BlockingOptions } from './runtime';
import { BadFileDescriptorError } from './errors';
import { checkInt, checkPort, describe } from './validate';

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
    this.domain = init.domain ?? 'AF_INET';
    this.fd =
      init.fd !== undefined
        ? checkInt(init.fd, 'init.fd', 0, 2 ** 31 - 1)
        : raw.socket(this.domain, init.type ?? 'SOCK_STREAM');
  }

  private live(): number {
    // Using a closed Socket is what EBADF means.
    if (this.fd === CLOSED) throw new BadFileDescriptorError(EBADF, 'socket');
    return this.fd;
  }

  /** setsockopt(2): `sock.setSockOpt(ReuseAddr, true)`. */
  setSockOpt<K extends raw.SocketOption>(option: K, value: raw.SocketOptionValues[K]): void {
    raw.setsockopt(this.live(), option, value);
  }

  /** getsockopt(2). */
  getSockOpt<K extends raw.SocketOption>(option: K): raw.SocketOptionValues[K] {
    return raw.getsockopt(this.live(), option);
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
    raw.bind(this.live(), {
      family,
      address: address || (family === 'AF_INET6' ? '::' : '0.0.0.0'),
      port,
    } as raw.SocketAddress);
  }

  /** listen(2), with the kernel's maximum backlog unless told. */
  listen(backlog: number = raw.SOMAXCONN): void {
    raw.listen(this.live(), backlog);
  }

  /** getsockname(2) as `[host, port]`. */
  getLocalAddr(): [string, number] {
    const a = raw.getsockname(this.live());
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /** getpeername(2) as `[host, port]`. */
  getPeerAddr(): [string, number] {
    const a = raw.getpeername(this.live());
    return a.family === 'AF_UNIX' ? [a.path, 0] : [a.address, a.port];
  }

  /**
   * accept(2): blocks for the next connection. With `client`, its fd is
   * replaced by the new connection's (Nim's `accept(server, client)`),
   * otherwise a new Socket is returned.
   * @throws InterruptedError when a handled signal arrives while it waits
   */
  accept(client?: Socket, options?: raw.AcceptOptions): Socket {
    const { fd } = raw.accept(this.live(), options);
    if (client === undefined) return new Socket({ fd, domain: this.domain });
    if (!(client instanceof Socket))
      throw new TypeError(`The "client" argument must be a Socket, received ${describe(client)}`);
    if (client.fd !== CLOSED) raw.close(client.fd);
    client.fd = fd;
    client.pending = Buffer.alloc(0);
    return client;
  }

  /**
   * Reads one line, without its `\n` (or `\r\n`). Partial reads are
   * buffered; bytes after the newline are kept for the next call. At end of
   * stream returns what is left (`''` when nothing). A line longer than
   * `maxLength` bytes throws {@link LineTooLongError} instead of growing
   * without bound.
   */
  readLine(maxLength = 64 * 1024, options?: BlockingOptions): string {
    checkInt(maxLength, 'maxLength', 1, 2 ** 30);
    const fd = this.live();
    for (;;) {
      const nl = this.pending.indexOf(0x0a);
      if (nl >= 0) {
        if (nl > maxLength) throw new LineTooLongError(maxLength);
        const line = this.pending.subarray(0, nl > 0 && this.pending[nl - 1] === 0x0d ? nl - 1 : nl);
        this.pending = this.pending.subarray(nl + 1);
        return line.toString('utf8');
      }
      if (this.pending.length > maxLength) throw new LineTooLongError(maxLength);
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
    if (this.pending.length > 0) {
      const out = this.pending.subarray(0, maxBytes);
      this.pending = this.pending.subarray(out.length);
      return out;
    }
    return raw.recv(this.live(), maxBytes, options);
  }

  /** Sends all of `data` (a string is sent as UTF-8). Returns the byte count. */
  send(data: string | Uint8Array, options?: raw.SendOptions): number {
    return raw.sendAll(this.live(), data, options);
  }

  /** shutdown(2). */
  shutdown(how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
    raw.shutdown(this.live(), how);
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
