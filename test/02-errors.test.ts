/**
 * Every error class, produced by a real system call failing for a real
 * reason (no mocks): each must carry code, errno, syscall and, where there
 * is one, the address, with a message shaped like Node's SystemError.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  accept,
  AddressInUseError,
  BadFileDescriptorError,
  bind,
  BlockingIOError,
  BrokenPipeError,
  ChildProcessError,
  close,
  connect,
  ConnectionError,
  ConnectionRefusedError,
  ConnectionResetError,
  getsockname,
  isErrno,
  kill,
  listen,
  errnoNumber,
  makeError,
  PosixError,
  ProcessLookupError,
  recv,
  send,
  sendAll,
  setsockopt,
  socket,
  socketpair,
  TimeoutError,
} from '../lib/index.ts';
import { runFixture } from './helpers.ts';

let open: number[] = [];
function track(fd: number): number {
  open.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of open) {
    try {
      close(fd);
    } catch {
      // closed by the test
    }
  }
  open = [];
});

/** Runs `fn`, expecting it to throw; returns what it threw. */
function thrown(fn: () => unknown): PosixError {
  try {
    fn();
  } catch (err) {
    return err as PosixError;
  }
  throw new Error('expected a throw');
}

function boundListener(): { fd: number; port: number } {
  const fd = track(socket('AF_INET', 'SOCK_STREAM'));
  bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(fd, 4);
  return { fd, port: (getsockname(fd) as { port: number }).port };
}

test('a second bind to a taken port: AddressInUseError, shaped like SystemError', () => {
  const { port } = boundListener();
  const fd = track(socket('AF_INET', 'SOCK_STREAM'));
  const err = thrown(() => bind(fd, { family: 'AF_INET', address: '127.0.0.1', port }));
  expect(err).toBeInstanceOf(AddressInUseError);
  expect(err).toBeInstanceOf(PosixError);
  expect(err).toBeInstanceOf(Error);
  expect(err.name).toBe('AddressInUseError');
  expect(err.message).toBe(`bind EADDRINUSE: address already in use 127.0.0.1:${port}`);
  expect(err).toMatchObject({
    code: 'EADDRINUSE',
    errno: os.constants.errno.EADDRINUSE,
    syscall: 'bind',
    address: '127.0.0.1',
    port,
    fd,
  });
  expect(String(err)).toBe(`AddressInUseError: ${err.message}`);
});

test('connect to a port nobody listens on: ConnectionRefusedError', () => {
  // Bind without listen: the port is ours and certainly not accepting.
  const holder = track(socket('AF_INET', 'SOCK_STREAM'));
  bind(holder, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  const port = (getsockname(holder) as { port: number }).port;
  const fd = track(socket('AF_INET', 'SOCK_STREAM'));
  const err = thrown(() => connect(fd, { family: 'AF_INET', address: '127.0.0.1', port }));
  expect(err).toBeInstanceOf(ConnectionRefusedError);
  expect(err).toBeInstanceOf(ConnectionError);
  expect(err).toBeInstanceOf(PosixError);
  expect(err.message).toBe(`connect ECONNREFUSED: connection refused 127.0.0.1:${port}`);
  expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: os.constants.errno.ECONNREFUSED, syscall: 'connect', port });
});

test('close of a closed fd: BadFileDescriptorError naming the fd', () => {
  const fd = socket('AF_INET', 'SOCK_STREAM');
  close(fd);
  const err = thrown(() => close(fd));
  expect(err).toBeInstanceOf(BadFileDescriptorError);
  expect(err).toMatchObject({ code: 'EBADF', errno: os.constants.errno.EBADF, syscall: 'close', fd });
  expect(err.message).toBe(`close EBADF: bad file descriptor fd ${fd}`);
});

test('send to a peer that closed: BrokenPipeError or ConnectionResetError, and no SIGPIPE', () => {
  const [a, b] = socketpair();
  track(a);
  close(b);
  // With SIGPIPE at its default action this process would die right here.
  const err = thrown(() => {
    for (let i = 0; i < 10; i++) send(a, 'anyone there?');
  });
  expect(err).toBeInstanceOf(ConnectionError);
  expect(err instanceof BrokenPipeError || err instanceof ConnectionResetError).toBe(true);
  expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
  expect(err.syscall).toBe('send');
  // Over TCP: the peer's close with unread data answers with RST.
  const { fd: srv, port } = boundListener();
  const cli = track(socket('AF_INET', 'SOCK_STREAM'));
  connect(cli, { family: 'AF_INET', address: '127.0.0.1', port });
  const conn = accept(srv, { timeoutMs: 5000 });
  send(conn.fd, 'unread');
  close(conn.fd);
  const tcpErr = thrown(() => {
    for (let i = 0; i < 50; i++) sendAll(cli, Buffer.alloc(1024));
  });
  expect(tcpErr).toBeInstanceOf(ConnectionError);
  expect(['EPIPE', 'ECONNRESET']).toContain(tcpErr.code);
  expect(process.pid).toBeGreaterThan(0);
});

test('non-blocking accept with an empty queue: BlockingIOError, code EAGAIN', () => {
  const { fd } = boundListener();
  const err = thrown(() => accept(fd, { timeoutMs: 0 }));
  // A blocking accept that runs out of time is a timeout ...
  expect(err).toBeInstanceOf(TimeoutError);
  // ... a non-blocking one says "would block".
  const nb = track(socket('AF_INET', 'SOCK_STREAM', { nonblock: true }));
  bind(nb, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(nb, 4);
  const e2 = thrown(() => accept(nb));
  expect(e2).toBeInstanceOf(BlockingIOError);
  expect(e2).toMatchObject({ code: 'EAGAIN', errno: os.constants.errno.EAGAIN, syscall: 'accept', fd: nb });
  expect(e2.timedOut).toBeUndefined();
  expect(isErrno(e2, 'EAGAIN')).toBe(true);
  // Names that share a number match each other.
  expect(isErrno(e2, 'EWOULDBLOCK')).toBe(true);
  expect(isErrno(e2, 'EINTR')).toBe(false);
  expect(isErrno(e2, os.constants.errno.EWOULDBLOCK)).toBe(true);
});

test('SO_RCVTIMEO running out: TimeoutError', () => {
  const [a] = socketpair();
  track(a);
  setsockopt(a, 'SO_RCVTIMEO', 0.05);
  const err = thrown(() => recv(a, 16));
  expect(err).toBeInstanceOf(TimeoutError);
  expect(err).toBeInstanceOf(PosixError);
  expect(err).toMatchObject({ syscall: 'recv', code: 'EAGAIN', timedOut: true });
  expect(err.message).toMatch(/^recv timed out \(EAGAIN: /);
  // The per-call timeout does the same without touching the socket.
  expect(() => recv(a, 16, { timeoutMs: 20 })).toThrow(TimeoutError);
});

test('kill of a pid that does not exist: ProcessLookupError', () => {
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  let pid = pidMax - 1;
  while (fs.existsSync(`/proc/${pid}`)) pid--;
  // Signal 0 only checks; nothing is sent even if the pid were reused.
  const err = thrown(() => kill(pid, 0));
  expect(err).toBeInstanceOf(ProcessLookupError);
  expect(err).toMatchObject({ code: 'ESRCH', errno: os.constants.errno.ESRCH, syscall: 'kill', pid });
  expect(err.message).toBe(`kill ESRCH: no such process pid ${pid}`);
});

test('waitpid(-1) with no children: ChildProcessError', async () => {
  // In a process of its own: the test runner may have children of its own.
  const r = await runFixture('no-children', { timeoutMs: 20000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    name: 'ChildProcessError',
    code: 'ECHILD',
    errno: os.constants.errno.ECHILD,
    syscall: 'waitpid',
    message: 'waitpid ECHILD: no child processes pid -1',
    isChildProcessError: true,
    isPosixError: true,
    isError: true,
  });
});

test('isErrno takes a code or a number and rejects non-errors', () => {
  const err = makeError(os.constants.errno.EMFILE, 'accept');
  expect(err).toBeInstanceOf(PosixError);
  expect(err.constructor).toBe(PosixError);
  expect(isErrno(err, 'EMFILE')).toBe(true);
  expect(isErrno(err, os.constants.errno.EMFILE)).toBe(true);
  expect(isErrno(err, 'ENFILE')).toBe(false);
  expect(isErrno(null, 'EMFILE')).toBe(false);
  expect(isErrno('EMFILE', 'EMFILE')).toBe(false);
  // Node's own errors carry the same code field.
  let nodeErr: unknown;
  try {
    fs.readFileSync('/definitely/not/here');
  } catch (e) {
    nodeErr = e;
  }
  expect(isErrno(nodeErr, 'ENOENT')).toBe(true);
});

test('every errno the platform names has a message', () => {
  for (const [code, errno] of Object.entries(os.constants.errno)) {
    const e = makeError(errno, 'test');
    expect(e.message).toMatch(new RegExp(`^test ${e.code}: [a-z]`));
    expect(e.message).not.toMatch(/unknown error/);
    expect(errnoNumber(e.code)).toBe(errno);
    void code;
  }
  expect(makeError(os.constants.errno.EINPROGRESS, 'connect').message).toBe(
    'connect EINPROGRESS: operation now in progress',
  );
});

test('the class hierarchy follows PEP 3151', () => {
  const cases: [string, string, ...(new (...a: never[]) => Error)[]][] = [
    ['ECONNREFUSED', 'ConnectionRefusedError', ConnectionRefusedError, ConnectionError],
    ['ECONNRESET', 'ConnectionResetError', ConnectionResetError, ConnectionError],
    ['EPIPE', 'BrokenPipeError', BrokenPipeError, ConnectionError],
    ['EAGAIN', 'BlockingIOError', BlockingIOError],
    ['EINPROGRESS', 'BlockingIOError', BlockingIOError],
    ['EADDRINUSE', 'AddressInUseError', AddressInUseError],
    ['EBADF', 'BadFileDescriptorError', BadFileDescriptorError],
    ['ETIMEDOUT', 'TimeoutError', TimeoutError],
    ['ECHILD', 'ChildProcessError', ChildProcessError],
    ['ESRCH', 'ProcessLookupError', ProcessLookupError],
  ];
  for (const [code, name, ...classes] of cases) {
    const e = makeError((os.constants.errno as Record<string, number>)[code], 'test');
    expect(e.name).toBe(name);
    expect(e.code).toBe(code);
    for (const cls of [...classes, PosixError, Error]) expect(e).toBeInstanceOf(cls);
  }
  expect(makeError(os.constants.errno.EAGAIN, 'test')).not.toBeInstanceOf(ConnectionError);
});

// Keep last: from here on, errors come out as the copy's classes.
test('a second copy of the package in the same process throws its own classes', () => {
  // Test runners (jest among them) load a fresh copy of the JavaScript
  // layer for each test file, while the addon stays loaded once.
  let copy: typeof import('../lib/index.ts') | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    copy = require('../lib');
  });
  const lib = copy as typeof import('../lib/index.ts');
  expect(lib.BadFileDescriptorError).not.toBe(BadFileDescriptorError);
  const fd = lib.socket('AF_INET', 'SOCK_STREAM');
  lib.close(fd);
  const err = thrown(() => lib.close(fd));
  expect(err).toBeInstanceOf(lib.BadFileDescriptorError);
  expect(err).toBeInstanceOf(lib.PosixError);
  // Its blocking calls work too (they read the shared signal word).
  const [a, b] = lib.socketpair();
  lib.send(a, 'x');
  expect(lib.recv(b, 1, { timeoutMs: 1000 }).toString()).toBe('x');
  expect(() => lib.recv(b, 1, { timeoutMs: 10 })).toThrow(lib.TimeoutError);
  lib.close(a);
  lib.close(b);
});
