/**
 * The Nim-like Socket class: a server set up the way the blog's program
 * does it, accept into a given Socket or a new one, readLine over input that
 * arrives in pieces, and the guarantees around close.
 */
import { spawn } from 'node:child_process';
import {
  BadFileDescriptorError,
  LineTooLongError,
  ReuseAddr,
  send as rawSend,
  shutdown as rawShutdown,
  close as rawClose,
  setTrace,
  Socket,
  socketpair,
} from '../lib/index.ts';

let toClose: Socket[] = [];
function own(s: Socket): Socket {
  toClose.push(s);
  return s;
}
afterEach(() => {
  for (const s of toClose) s.close();
  toClose = [];
});

function server(): { srv: Socket; port: number } {
  const srv = own(new Socket());
  srv.setSockOpt(ReuseAddr, true);
  srv.bindAddr(0, '127.0.0.1');
  srv.listen();
  return { srv, port: srv.getLocalAddr()[1] };
}

/** A Socket over one end of a socketpair, the raw fd of the other end. */
function pair(): { sock: Socket; other: number; otherSock: Socket } {
  const [a, b] = socketpair();
  const sock = own(new Socket({ fd: a, domain: 'AF_UNIX' }));
  const otherSock = own(new Socket({ fd: b, domain: 'AF_UNIX' }));
  return { sock, other: b, otherSock };
}

test('a server set up as in the blog: options, bind, listen, local address', () => {
  const { srv, port } = server();
  expect(srv.getSockOpt(ReuseAddr)).toBe(true);
  expect(srv.getLocalAddr()).toEqual(['127.0.0.1', port]);
  expect(port).toBeGreaterThan(0);
  expect(srv.isOpen).toBe(true);
  expect(srv.fd).toBeGreaterThan(2);
});

test('bindAddr with no address binds every interface', () => {
  const s = own(new Socket());
  s.bindAddr(0);
  expect(s.getLocalAddr()[0]).toBe('0.0.0.0');
  const s6 = own(new Socket({ domain: 'AF_INET6' }));
  s6.bindAddr(0);
  expect(s6.getLocalAddr()[0]).toBe('::');
});

test('accept returns a new Socket, or fills the one it is given', async () => {
  const { srv, port } = server();
  // A real client process, so the blocking accept has someone to accept.
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const net = require('net');
       for (const word of ['first', 'second']) {
         const s = net.connect(${port}, '127.0.0.1', () => s.write(word + '\\n'));
         s.on('data', (d) => process.stdout.write(d));
       }`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => client.on('close', resolve));
  try {
    const fresh = own(srv.accept(undefined, { timeoutMs: 20000 }));
    expect(fresh).toBeInstanceOf(Socket);
    expect(fresh.fd).not.toBe(srv.fd);
    expect(fresh.getPeerAddr()[0]).toBe('127.0.0.1');
    const given = own(new Socket());
    const placeholderFd = given.fd;
    expect(srv.accept(given, { timeoutMs: 20000 })).toBe(given);
    expect(given.fd).not.toBe(placeholderFd);
    const lines = [fresh.readLine(), given.readLine()].sort();
    expect(lines).toEqual(['first', 'second']);
    fresh.send('echo ' + lines[0] + '\n');
    given.send(Buffer.from('echo ' + lines[1] + '\n'));
    fresh.close();
    given.close();
    await done;
    expect(out.split('\n').filter(Boolean).sort()).toEqual(['echo first', 'echo second']);
  } finally {
    if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
  }
});

test('a bad client argument is refused before accept takes a connection', () => {
  const { srv } = server();
  expect(() => srv.accept({} as Socket)).toThrow(TypeError);
});

test('readLine over bytes dribbled one at a time (one datagram each)', () => {
  // A datagram pair hands recv(2) one send's worth at a time, so every
  // byte comes from a recv of its own, even mid-character.
  const [a, b] = socketpair('AF_UNIX', 'SOCK_DGRAM');
  const sock = own(new Socket({ fd: a, domain: 'AF_UNIX', type: 'SOCK_DGRAM' }));
  own(new Socket({ fd: b, domain: 'AF_UNIX', type: 'SOCK_DGRAM' }));
  const bytes = Buffer.from('héllo wörld\r\nsecond line\n');
  for (const byte of bytes) rawSend(b, Buffer.from([byte]));
  const recvs: string[] = [];
  setTrace(true, (line) => {
    if (line.includes(' recv(')) recvs.push(line);
  });
  try {
    expect(sock.readLine()).toBe('héllo wörld');
    expect(sock.readLine()).toBe('second line');
  } finally {
    setTrace(false);
  }
  expect(recvs.length).toBe(bytes.length);
});

test('readLine timeoutMs bounds the whole line: a peer trickling bytes without a newline does not hold it', async () => {
  const { srv, port } = server();
  // A byte every 50 ms, never a newline, for at most 10 s.
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').connect(${port}, '127.0.0.1', () => {
         s.setNoDelay(true);
         let n = 0;
         const t = setInterval(() => { if (++n > 200) { clearInterval(t); s.end(); } else s.write('x'); }, 50);
         s.on('close', () => clearInterval(t));
         s.on('error', () => clearInterval(t));
       });`,
    ],
    { stdio: 'ignore' },
  );
  const done = new Promise((resolve) => client.on('close', resolve));
  try {
    const conn = own(srv.accept(undefined, { timeoutMs: 20000 }));
    const t0 = Date.now();
    expect(() => conn.readLine(1000, { timeoutMs: 600 })).toThrow(
      expect.objectContaining({ name: 'TimeoutError', timedOut: true }),
    );
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(590);
    expect(ms).toBeLessThan(3000);
    conn.close();
    await done;
  } finally {
    if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
  }
});

test('readLine from a node:net client in another process, writing a byte every few ms', async () => {
  const { srv, port } = server();
  const text = 'dribbled ünïcode\r\nand more\n';
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').connect(${port}, '127.0.0.1', () => {
         s.setNoDelay(true);
         const bytes = Buffer.from(process.argv[1]); let i = 0;
         const t = setInterval(() => {
           if (i < bytes.length) s.write(bytes.subarray(i, ++i)); else { clearInterval(t); s.end(); }
         }, 3);
       });`,
      text,
    ],
    { stdio: 'inherit' },
  );
  const done = new Promise((resolve) => client.on('close', resolve));
  try {
    const conn = own(srv.accept(undefined, { timeoutMs: 20000 }));
    const recvs: string[] = [];
    setTrace(true, (line) => {
      if (line.includes(' recv(')) recvs.push(line);
    });
    try {
      expect(conn.readLine(100, { timeoutMs: 20000 })).toBe('dribbled ünïcode');
      expect(conn.readLine(100, { timeoutMs: 20000 })).toBe('and more');
      expect(conn.readLine(100, { timeoutMs: 20000 })).toBe('');
    } finally {
      setTrace(false);
    }
    // The bytes really came in pieces.
    expect(recvs.length).toBeGreaterThan(5);
    // The client waits for our side to close before it exits.
    conn.close();
    expect(await done).toBe(0);
  } finally {
    if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
  }
});

test('several lines in one packet, CRLF, then EOF with a partial line', () => {
  const { sock, other } = pair();
  rawSend(other, 'one\r\ntwo\n\nthree\r\nfour');
  rawShutdown(other, 'SHUT_WR');
  expect(sock.readLine()).toBe('one');
  expect(sock.readLine()).toBe('two');
  expect(sock.readLine()).toBe('');
  expect(sock.readLine()).toBe('three');
  // End of stream: what is left, then '' for ever after.
  expect(sock.readLine()).toBe('four');
  expect(sock.readLine()).toBe('');
  expect(sock.readLine()).toBe('');
});

test('a line just at the limit is fine; one byte more is LineTooLongError', () => {
  const { sock, other } = pair();
  rawSend(other, 'x'.repeat(10) + '\r\n' + 'y'.repeat(11) + '\n');
  expect(sock.readLine(10)).toBe('x'.repeat(10));
  const err = (() => {
    try {
      sock.readLine(10);
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(LineTooLongError);
  expect(err).toBeInstanceOf(RangeError);
  expect(err).toMatchObject({ name: 'LineTooLongError', code: 'ERR_LINE_TOO_LONG', maxLength: 10 });
});

test('an endless line fails fast and memory stays bounded', () => {
  const { sock, other } = pair();
  // 4 MiB with no newline: readLine must give up after ~maxLength bytes,
  // not buffer the whole stream.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let queued = 0;
  try {
    for (; queued < 64; queued++) rawSend(other, chunk, { timeoutMs: 0 });
  } catch {
    // the socket buffer is full: enough is queued
  }
  expect(queued).toBeGreaterThan(0);
  const heapBefore = process.memoryUsage().arrayBuffers;
  expect(() => sock.readLine(1024)).toThrow(LineTooLongError);
  const grew = process.memoryUsage().arrayBuffers - heapBefore;
  expect(grew).toBeLessThan(1024 * 1024);
  // The oversized line was dropped: the next call fails the same way,
  // each time reading only about maxLength more bytes.
  expect(() => sock.readLine(1024)).toThrow(LineTooLongError);
});

test('send takes strings and bytes and returns the byte count', () => {
  const { sock, otherSock } = pair();
  expect(sock.send('héllo')).toBe(6);
  expect(sock.send(new Uint8Array([0x21, 0x0a]))).toBe(2);
  expect(sock.send(Buffer.alloc(0))).toBe(0);
  expect(otherSock.readLine()).toBe('héllo!');
});

test('close is idempotent, and every call after it is EBADF without touching the kernel', () => {
  const s = new Socket();
  const fd = s.fd;
  s.close();
  s.close();
  expect(s.isOpen).toBe(false);
  expect(s.fd).toBe(-1);
  // The number itself is closed in the kernel, too.
  expect(() => rawClose(fd)).toThrow(BadFileDescriptorError);
  const calls: [string, () => unknown][] = [
    ['bind', () => s.bindAddr(0)],
    ['listen', () => s.listen()],
    ['accept', () => s.accept()],
    ['recv', () => s.readLine()],
    ['recv', () => s.recv(10)],
    ['send', () => s.send('x')],
    ['getsockname', () => s.getLocalAddr()],
    ['getpeername', () => s.getPeerAddr()],
    ['setsockopt', () => s.setSockOpt(ReuseAddr, true)],
    ['getsockopt', () => s.getSockOpt(ReuseAddr)],
    ['shutdown', () => s.shutdown()],
  ];
  for (const [syscall, call] of calls) {
    let err: unknown;
    try {
      call();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadFileDescriptorError);
    expect(err).toMatchObject({ code: 'EBADF', syscall });
  }
});

test('constructor arguments are checked', () => {
  expect(() => new Socket(null as never)).toThrow(TypeError);
  expect(() => new Socket({ domain: 'AF_APPLETALK' as never })).toThrow(/"init.domain"/);
  expect(() => new Socket({ fd: -1 })).toThrow(/"init.fd"/);
  expect(() => new Socket({ fd: NaN })).toThrow(RangeError);
});
