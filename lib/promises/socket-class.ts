/**
 * The Nim-style Socket whose waiting calls (accept, readLine, recv, send)
 * return Promises. What never waits (setSockOpt, bindAddr, listen,
 * getLocalAddr, shutdown, close) is the blocking class's, which this one
 * wraps.
 */
import { BadFileDescriptorError, errnoNumber } from '../errors.ts';
import { Socket as BlockingSocket, LineTooLongError, type SocketInit } from '../sockets/socket-class.ts';
import type { Domain } from '../sockets/addresses.ts';
import type { SocketOption, SocketOptionValues } from '../sockets/options.ts';
import { checkInt } from '../validate.ts';
import { checkAsyncOptions, type AsyncOptions } from './abort.ts';
import * as io from './sockets.ts';

const EBADF = errnoNumber('EBADF') as number;

/**
 * A socket object whose waits happen on the event loop:
 * `await server.accept()`, `await client.readLine()`, `await client.send(...)`.
 * Teaches: the same calls in the same order as the blocking server, with
 * `await` where the blocking one would stop the thread.
 */
export class Socket {
  private readonly raw: BlockingSocket;
  // Bytes read past the last newline, kept for the next readLine.
  private rest: Buffer = Buffer.alloc(0);

  /**
   * socket(2) for a new TCP/IPv4 socket by default, or wrap `init.fd`.
   * @throws as the blocking Socket's constructor
   */
  constructor(init: SocketInit = {}) {
    this.raw = new BlockingSocket(init);
  }

  /** The raw fd, or -1 once closed. */
  get fd(): number {
    return this.raw.fd;
  }

  /** The address family. */
  get domain(): Domain {
    return this.raw.domain;
  }

  /** True until close(). */
  get isOpen(): boolean {
    return this.raw.isOpen;
  }

  /** setsockopt(2). @throws as the blocking Socket's setSockOpt */
  setSockOpt<K extends SocketOption>(option: K, value: SocketOptionValues[K]): void {
    this.raw.setSockOpt(option, value);
  }

  /** getsockopt(2). @throws as the blocking Socket's getSockOpt */
  getSockOpt<K extends SocketOption>(option: K): SocketOptionValues[K] {
    return this.raw.getSockOpt(option);
  }

  /** bind(2) to `port` on `address` ('' for every interface). @throws as the blocking Socket's bindAddr */
  bindAddr(port = 0, address = ''): void {
    this.raw.bindAddr(port, address);
  }

  /** listen(2). @throws as the blocking Socket's listen */
  listen(backlog?: number): void {
    this.raw.listen(backlog);
  }

  /** getsockname(2) as `[host, port]`. @throws as the blocking Socket's getLocalAddr */
  getLocalAddr(): [string, number] {
    return this.raw.getLocalAddr();
  }

  /** getpeername(2) as `[host, port]`. @throws as the blocking Socket's getPeerAddr */
  getPeerAddr(): [string, number] {
    return this.raw.getPeerAddr();
  }

  /** shutdown(2). @throws as the blocking Socket's shutdown */
  shutdown(how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
    this.raw.shutdown(how);
  }

  private open(syscall: string): number {
    if (!this.raw.isOpen) throw new BadFileDescriptorError(EBADF, syscall);
    return this.raw.fd;
  }

  /**
   * accept(2) on the event loop: resolves with a new Socket for the next
   * connection.
   * @throws (rejects) as the promise {@link io.accept | accept}; BadFileDescriptorError once closed
   */
  async accept(options?: io.AsyncAcceptOptions): Promise<Socket> {
    const { fd } = await io.accept(this.open('accept'), options);
    return new Socket({ fd, domain: this.domain });
  }

  /**
   * Reads one line without its `\n` (or `\r\n`), as the blocking readLine,
   * waiting on the event loop. At end of stream resolves with what is left
   * (`''` when nothing). `timeoutMs` and `signal` bound the whole line.
   * @throws (rejects) LineTooLongError; as the promise {@link io.recv | recv};
   *   BadFileDescriptorError once closed
   */
  async readLine(maxLength = 64 * 1024, options?: AsyncOptions): Promise<string> {
    checkInt(maxLength, 'maxLength', 1, 2 ** 30);
    const o = checkAsyncOptions(options);
    const deadline = o.timeoutMs === undefined ? undefined : performance.now() + o.timeoutMs;
    const fd = this.open('recv');
    for (;;) {
      const nl = this.rest.indexOf(0x0a);
      const stop = nl >= 0 ? nl : this.rest.length;
      const length = stop > 0 && this.rest[stop - 1] === 0x0d ? stop - 1 : stop;
      if (length > maxLength) {
        this.rest = Buffer.alloc(0);
        throw new LineTooLongError(maxLength);
      }
      if (nl >= 0) {
        const text = this.rest.toString('utf8', 0, length);
        this.rest = this.rest.subarray(nl + 1);
        return text;
      }
      const timeoutMs = deadline === undefined ? undefined : Math.max(0, Math.ceil(deadline - performance.now()));
      const got = await io.recv(fd, Math.min(65536, maxLength + 2 - this.rest.length), {
        signal: o.signal,
        timeoutMs,
      });
      if (got.length === 0) {
        const text = this.rest.toString('utf8');
        this.rest = Buffer.alloc(0);
        return text;
      }
      this.rest = this.rest.length === 0 ? got : Buffer.concat([this.rest, got]);
    }
  }

  /**
   * recv(2) on the event loop, after any bytes readLine kept.
   * @throws (rejects) as the promise {@link io.recv | recv}; BadFileDescriptorError once closed
   */
  async recv(maxBytes = 65536, options?: io.AsyncRecvOptions): Promise<Buffer> {
    checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
    const fd = this.open('recv');
    if (this.rest.length > 0) {
      const out = this.rest.subarray(0, maxBytes);
      this.rest = this.rest.subarray(out.length);
      return out;
    }
    return io.recv(fd, maxBytes, options);
  }

  /**
   * Sends all of `data` (a string as UTF-8) on the event loop; resolves with the byte count.
   * @throws (rejects) as the promise {@link io.sendAll | sendAll}; BadFileDescriptorError once closed
   */
  async send(data: string | Uint8Array, options?: io.AsyncSendOptions): Promise<number> {
    return io.sendAll(this.open('send'), data, options);
  }

  /**
   * close(2); a call still waiting on the socket rejects with
   * BadFileDescriptorError. Closing twice does nothing.
   * @throws as the blocking close
   */
  close(): void {
    this.rest = Buffer.alloc(0);
    this.raw.close();
  }
}
