/**
 * The raw socket layer on real sockets over loopback: round trips over
 * IPv4, IPv6 and a UNIX-domain path, socketpair, pipe, dup/dup2, names,
 * fd flags, every typed socket option, sendAll against a small send buffer,
 * and end of stream.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  accept,
  AF_INET,
  bind,
  close,
  connect,
  dup,
  dup2,
  getpeername,
  getsockname,
  getsockopt,
  isCloseOnExec,
  isNonBlocking,
  listen,
  MSG_DONTWAIT,
  BlockingIOError,
  pipe,
  recv,
  send,
  sendAll,
  setCloseOnExec,
  setNonBlocking,
  setsockopt,
  shutdown,
  socket,
  socketpair,
  SOCK_STREAM,
  type SocketAddress,
} from '../lib/index.ts';

// fds opened by a test, closed in afterEach even when an assertion failed.
let open: number[] = [];
function track<T extends number | number[]>(fds: T): T {
  open.push(...(Array.isArray(fds) ? fds : [fds]));
  return fds;
}
afterEach(() => {
  for (const fd of open) {
    try {
      close(fd);
    } catch {
      // closed by the test itself
    }
  }
  open = [];
});

function listener(address: SocketAddress): { fd: number; address: SocketAddress } {
  const domain = address.family;
  const fd = track(socket(domain, 'SOCK_STREAM'));
  if (domain !== 'AF_UNIX') setsockopt(fd, 'SO_REUSEADDR', true);
  bind(fd, address);
  listen(fd, 8);
  return { fd, address: getsockname(fd) };
}

// One request/reply over a fresh connection: the client connects (the
// handshake completes in the kernel, against the listen queue), the server
// accepts, and bytes go both ways.
function roundTrip(address: SocketAddress) {
  const srv = listener(address);
  const cli = track(socket(address.family, 'SOCK_STREAM'));
  connect(cli, srv.address);
  const conn = accept(srv.fd, { timeoutMs: 5000 });
  track(conn.fd);
  expect(send(cli, 'ping\n')).toBe(5);
  expect(recv(conn.fd, 100, { timeoutMs: 5000 }).toString()).toBe('ping\n');
  expect(send(conn.fd, Buffer.from('pong\n'))).toBe(5);
  expect(recv(cli, 100, { timeoutMs: 5000 }).toString()).toBe('pong\n');
  return { srv, cli, conn };
}

describe('round trips', () => {
  test('TCP over IPv4: accept returns the peer address that getpeername reports', () => {
    const { srv, cli, conn } = roundTrip({ family: 'AF_INET', address: '127.0.0.1', port: 0 });
    expect(srv.address).toMatchObject({ family: 'AF_INET', address: '127.0.0.1' });
    const port = (srv.address as { port: number }).port;
    expect(port).toBeGreaterThan(0);
    expect(conn.address).toEqual(getsockname(cli));
    expect(getpeername(cli)).toEqual(srv.address);
    expect(getpeername(conn.fd)).toEqual(conn.address);
    expect(getsockname(conn.fd)).toEqual({ family: 'AF_INET', address: '127.0.0.1', port });
  });

  test('TCP over IPv6 ::1', () => {
    const { srv, cli, conn } = roundTrip({ family: 'AF_INET6', address: '::1', port: 0 });
    expect(srv.address).toMatchObject({ family: 'AF_INET6', address: '::1', flowinfo: 0, scopeId: 0 });
    expect(getpeername(cli)).toEqual(srv.address);
    expect(conn.address).toMatchObject({ family: 'AF_INET6', address: '::1' });
    expect(conn.address).toEqual(getsockname(cli));
  });

  test('UNIX-domain socket at a path', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-unix-'));
    const file = path.join(dir, 'sock');
    try {
      const { srv, cli } = roundTrip({ family: 'AF_UNIX', path: file });
      expect(srv.address).toEqual({ family: 'AF_UNIX', path: file });
      expect(getpeername(cli)).toEqual({ family: 'AF_UNIX', path: file });
      // The client is unbound: its name is the empty path.
      expect(getsockname(cli)).toEqual({ family: 'AF_UNIX', path: '' });
      expect(fs.statSync(file).isSocket()).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('numeric constants work in place of names', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM));
    expect(getsockopt(fd, 'SO_TYPE')).toBe(SOCK_STREAM);
  });
});

describe('pairs and copies of fds', () => {
  test('socketpair is a two-way pipe', () => {
    const [a, b] = track(socketpair());
    expect(send(a, 'to b')).toBe(4);
    expect(recv(b, 10).toString()).toBe('to b');
    expect(send(b, 'to a')).toBe(4);
    expect(recv(a, 10).toString()).toBe('to a');
  });

  test('pipe: bytes written at one end are read at the other', () => {
    const [r, w] = track(pipe());
    // send(2) needs a socket; a pipe is written with write(2) (here via fs).
    expect(fs.writeSync(w, 'through the pipe')).toBe(16);
    const buf = Buffer.alloc(64);
    expect(buf.subarray(0, fs.readSync(r, buf)).toString()).toBe('through the pipe');
    expect(() => send(w, 'x')).toThrow(expect.objectContaining({ code: 'ENOTSOCK', syscall: 'send' }));
  });

  test('dup gives a new number for the same socket; dup2 picks the number', () => {
    const [a, b] = track(socketpair());
    const copy = track(dup(a));
    expect(copy).not.toBe(a);
    send(copy, 'via dup');
    expect(recv(b, 20).toString()).toBe('via dup');
    // dup2 onto a number that is taken (by a pipe end): it is closed first.
    const [r, w] = track(pipe());
    expect(dup2(a, w)).toBe(w);
    send(w, 'via dup2');
    expect(recv(b, 20).toString()).toBe('via dup2');
    expect(getsockname(w)).toEqual({ family: 'AF_UNIX', path: '' });
    // Closing one copy leaves the socket open through the other.
    close(copy);
    open = open.filter((fd) => fd !== copy);
    send(a, 'still open');
    expect(recv(b, 20).toString()).toBe('still open');
    void r;
  });
});

describe('fd flags', () => {
  test('socket() options set O_NONBLOCK and FD_CLOEXEC; fcntl toggles them', () => {
    const plain = track(socket('AF_INET', 'SOCK_STREAM'));
    expect(isNonBlocking(plain)).toBe(false);
    expect(isCloseOnExec(plain)).toBe(false);
    const both = track(socket('AF_INET', 'SOCK_STREAM', { nonblock: true, cloexec: true }));
    expect(isNonBlocking(both)).toBe(true);
    expect(isCloseOnExec(both)).toBe(true);
    setNonBlocking(plain, true);
    setCloseOnExec(plain, true);
    expect(isNonBlocking(plain)).toBe(true);
    expect(isCloseOnExec(plain)).toBe(true);
    setNonBlocking(plain, false);
    setCloseOnExec(plain, false);
    expect(isNonBlocking(plain)).toBe(false);
    expect(isCloseOnExec(plain)).toBe(false);
  });

  test('socketpair, pipe and accept take the same flags', () => {
    const [a, b] = track(socketpair('AF_UNIX', 'SOCK_STREAM', { nonblock: true }));
    expect([isNonBlocking(a), isNonBlocking(b), isCloseOnExec(a)]).toEqual([true, true, false]);
    const [r, w] = track(pipe({ cloexec: true }));
    expect([isCloseOnExec(r), isCloseOnExec(w), isNonBlocking(r)]).toEqual([true, true, false]);
    const srv = listener({ family: 'AF_INET', address: '127.0.0.1', port: 0 });
    const cli = track(socket('AF_INET', 'SOCK_STREAM'));
    connect(cli, srv.address);
    const conn = accept(srv.fd, { nonblock: true, cloexec: true, timeoutMs: 5000 });
    track(conn.fd);
    expect([isNonBlocking(conn.fd), isCloseOnExec(conn.fd)]).toEqual([true, true]);
  });

  test('a non-blocking recv with nothing to read fails with EAGAIN instead of waiting', () => {
    const [a] = track(socketpair('AF_UNIX', 'SOCK_STREAM', { nonblock: true }));
    const t0 = Date.now();
    expect(() => recv(a, 10)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('socket options, typed per option', () => {
  test('boolean options round-trip', () => {
    const fd = track(socket('AF_INET', 'SOCK_STREAM'));
    for (const opt of ['SO_REUSEADDR', 'SO_REUSEPORT', 'SO_KEEPALIVE', 'TCP_NODELAY'] as const) {
      expect(getsockopt(fd, opt)).toBe(false);
      setsockopt(fd, opt, true);
      expect(getsockopt(fd, opt)).toBe(true);
      setsockopt(fd, opt, false);
      expect(getsockopt(fd, opt)).toBe(false);
    }
  });

  test('timeouts are seconds, fractions kept to the kernel clock tick', () => {
    const fd = track(socket('AF_INET', 'SOCK_STREAM'));
    expect(getsockopt(fd, 'SO_RCVTIMEO')).toBe(0);
    setsockopt(fd, 'SO_RCVTIMEO', 1.5);
    expect(getsockopt(fd, 'SO_RCVTIMEO')).toBe(1.5);
    setsockopt(fd, 'SO_SNDTIMEO', 0.25);
    // Linux keeps timeouts in clock ticks (1 to 10 ms), rounding up.
    expect(getsockopt(fd, 'SO_SNDTIMEO')).toBeGreaterThanOrEqual(0.25);
    expect(getsockopt(fd, 'SO_SNDTIMEO')).toBeLessThanOrEqual(0.26);
    // A tiny positive timeout must not turn into 0, which means "forever".
    setsockopt(fd, 'SO_RCVTIMEO', 1e-9);
    expect(getsockopt(fd, 'SO_RCVTIMEO')).toBeGreaterThan(0);
    setsockopt(fd, 'SO_RCVTIMEO', 0);
    expect(getsockopt(fd, 'SO_RCVTIMEO')).toBe(0);
  });

  test('SO_LINGER is { onoff, linger }', () => {
    const fd = track(socket('AF_INET', 'SOCK_STREAM'));
    expect(getsockopt(fd, 'SO_LINGER')).toEqual({ onoff: false, linger: 0 });
    setsockopt(fd, 'SO_LINGER', { onoff: true, linger: 7 });
    expect(getsockopt(fd, 'SO_LINGER')).toEqual({ onoff: true, linger: 7 });
  });

  test('buffer sizes are bytes (Linux doubles what it is given)', () => {
    const fd = track(socket('AF_INET', 'SOCK_STREAM'));
    setsockopt(fd, 'SO_RCVBUF', 32768);
    expect(getsockopt(fd, 'SO_RCVBUF')).toBe(65536);
    setsockopt(fd, 'SO_SNDBUF', 16384);
    expect(getsockopt(fd, 'SO_SNDBUF')).toBe(32768);
  });

  test('SO_RCVTIMEO makes a blocking recv give up', () => {
    const [a] = track(socketpair());
    setsockopt(a, 'SO_RCVTIMEO', 0.1);
    const t0 = Date.now();
    expect(() => recv(a, 10)).toThrow(expect.objectContaining({ name: 'TimeoutError', timedOut: true }));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(3000);
  });
});

describe('streams', () => {
  test('recv returns an empty Buffer at end of stream, after the data', () => {
    const [a, b] = track(socketpair());
    send(a, 'last words');
    shutdown(a, 'SHUT_WR');
    expect(recv(b, 100).toString()).toBe('last words');
    const eof = recv(b, 100);
    expect(Buffer.isBuffer(eof)).toBe(true);
    expect(eof.length).toBe(0);
    // And again: end of stream is not consumed.
    expect(recv(b, 100).length).toBe(0);
  });

  test('MSG_DONTWAIT never waits, even on a blocking fd: EAGAIN as BlockingIOError', () => {
    const [a, b] = track(socketpair());
    expect(isNonBlocking(b)).toBe(false);
    const t0 = Date.now();
    expect(() => recv(b, 10, { flags: MSG_DONTWAIT, timeoutMs: 2000 })).toThrow(BlockingIOError);
    expect(Date.now() - t0).toBeLessThan(1000);
    send(a, 'x');
    expect(recv(b, 10, { flags: MSG_DONTWAIT }).toString()).toBe('x');
    // Fill the pipe: a send with MSG_DONTWAIT then fails at once too.
    setsockopt(a, 'SO_SNDBUF', 4096);
    const chunk = Buffer.alloc(65536);
    let err: unknown;
    for (let i = 0; i < 1000 && err === undefined; i++) {
      try {
        send(a, chunk, { flags: MSG_DONTWAIT });
      } catch (e) {
        err = e;
      }
    }
    expect(err).toBeInstanceOf(BlockingIOError);
    expect((err as BlockingIOError).code).toBe('EAGAIN');
  });

  test('a TCP connect that cannot complete ends after timeoutMs with TimeoutError', () => {
    // A listener whose accept queue is full: the kernel drops further SYNs,
    // so a new connect waits (SYN retransmits) until something ends it.
    const fd = track(socket('AF_INET', 'SOCK_STREAM'));
    bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    listen(fd, 0);
    const address = getsockname(fd);
    let blocked: unknown;
    for (let i = 0; i < 8 && blocked === undefined; i++) {
      const c = track(socket('AF_INET', 'SOCK_STREAM'));
      const t0 = Date.now();
      try {
        connect(c, address, { timeoutMs: 300 });
      } catch (err) {
        blocked = { err, ms: Date.now() - t0 };
      }
    }
    expect(blocked).toMatchObject({ err: expect.objectContaining({ name: 'TimeoutError' }) });
    const { ms } = blocked as { ms: number };
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(3000);
  });

  test('a zero-byte send returns 0', () => {
    const [a] = track(socketpair());
    expect(send(a, Buffer.alloc(0))).toBe(0);
    expect(sendAll(a, '')).toBe(0);
  });

  test('sendAll pushes 1 MiB through a small SO_SNDBUF to a reader in another process', async () => {
    const srv = listener({ family: 'AF_INET', address: '127.0.0.1', port: 0 });
    const port = (srv.address as { port: number }).port;
    // The reader counts and hashes every byte up to end of stream.
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('net').connect(${port}, '127.0.0.1');
         const h = require('crypto').createHash('sha256'); let n = 0;
         s.on('data', (d) => { n += d.length; h.update(d); });
         s.on('end', () => { console.log(n + ' ' + h.digest('hex')); s.end(); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => reader.on('close', resolve));
    try {
      const conn = accept(srv.fd, { timeoutMs: 20000 });
      track(conn.fd);
      setsockopt(conn.fd, 'SO_SNDBUF', 4096);
      const data = crypto.randomBytes(1024 * 1024);
      expect(sendAll(conn.fd, data, { timeoutMs: 30000 })).toBe(data.length);
      shutdown(conn.fd, 'SHUT_WR');
      expect(await exited).toBe(0);
      expect(out.trim()).toBe(`${data.length} ${crypto.createHash('sha256').update(data).digest('hex')}`);
    } finally {
      if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL');
      await exited;
    }
  });
});
