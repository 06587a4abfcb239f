/**
 * No fd leaks: the number of entries in /proc/self/fd is the same before
 * and after 200 full connection cycles and a round of every error path.
 */
import {
  accept,
  bind,
  close,
  connect,
  getsockname,
  listen,
  LineTooLongError,
  recv,
  send,
  sendAll,
  setsockopt,
  shutdown,
  Socket,
  socket,
  socketpair,
} from '../lib/index.ts';
import { fdCount } from './helpers.ts';

function expectThrow(fn: () => unknown, cls: new (...args: never[]) => Error): void {
  expect(fn).toThrow(cls);
}

test('200 connect/accept/send/recv/close cycles leave no fd behind', () => {
  const before = fdCount();
  const srv = socket('AF_INET', 'SOCK_STREAM');
  setsockopt(srv, 'SO_REUSEADDR', true);
  bind(srv, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(srv, 16);
  const address = getsockname(srv);
  const deadline = Date.now() + 60000;
  let cycles = 0;
  for (; cycles < 200 && Date.now() < deadline; cycles++) {
    const cli = socket('AF_INET', 'SOCK_STREAM');
    connect(cli, address);
    const conn = accept(srv, { timeoutMs: 5000 });
    sendAll(cli, `request ${cycles}\n`);
    expect(recv(conn.fd, 64, { timeoutMs: 5000 }).toString()).toBe(`request ${cycles}\n`);
    send(conn.fd, 'reply');
    expect(recv(cli, 64, { timeoutMs: 5000 }).toString()).toBe('reply');
    // Alternate who closes first, and sometimes shut down before.
    if (cycles % 2) {
      shutdown(cli, 'SHUT_WR');
      expect(recv(conn.fd, 64, { timeoutMs: 5000 }).length).toBe(0);
      close(conn.fd);
      close(cli);
    } else {
      close(cli);
      close(conn.fd);
    }
  }
  expect(cycles).toBe(200);
  // The Socket class over the same listener.
  const server = new Socket({ fd: srv });
  for (let i = 0; i < 20; i++) {
    const cli = new Socket();
    connect(cli.fd, address);
    const conn = server.accept(undefined, { timeoutMs: 5000 });
    cli.send(`line ${i}\n`);
    expect(conn.readLine(100, { timeoutMs: 5000 })).toBe(`line ${i}`);
    conn.close();
    cli.close();
    cli.close();
  }
  server.close();
  expect(fdCount()).toBe(before);
});

test('error paths leave no fd behind', () => {
  const before = fdCount();
  for (let i = 0; i < 20; i++) {
    // Double bind, and connect to a port nobody listens on.
    const a = socket('AF_INET', 'SOCK_STREAM');
    bind(a, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    const taken = getsockname(a);
    const b = socket('AF_INET', 'SOCK_STREAM');
    expect(() => bind(b, taken)).toThrow(/EADDRINUSE/);
    expect(() => connect(b, taken)).toThrow(/ECONNREFUSED/);
    close(b);
    // accept with nothing queued, blocking (timeout) and not (EAGAIN).
    listen(a, 1);
    expect(() => accept(a, { timeoutMs: 0 })).toThrow(/timed out/);
    const nb = socket('AF_INET', 'SOCK_STREAM', { nonblock: true });
    bind(nb, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    listen(nb, 1);
    expect(() => accept(nb)).toThrow(/EAGAIN/);
    close(nb);
    close(a);
    // A closed fd, twice.
    expect(() => close(a)).toThrow(/EBADF/);
    // Send to a closed peer; recv timeout.
    const [p, q] = socketpair();
    close(q);
    expect(() => sendAll(p, 'x'.repeat(1000))).toThrow(/EPIPE|ECONNRESET/);
    close(p);
    const [r, s] = socketpair();
    expect(() => recv(r, 10, { timeoutMs: 1 })).toThrow(/timed out/);
    // readLine over an endless line; a bad client for accept.
    const sock = new Socket({ fd: r, domain: 'AF_UNIX' });
    send(s, 'y'.repeat(300));
    expectThrow(() => sock.readLine(100), LineTooLongError);
    expect(() => sock.accept({} as Socket)).toThrow(TypeError);
    sock.close();
    close(s);
    // Arguments refused before any fd is made.
    expect(() => socket('AF_INET', 'SOCK_STREAM', { nonblock: 'yes' as never })).toThrow(TypeError);
    expect(() => socketpair('AF_INET')).toThrow(/socketpair/);
    expect(() => new Socket({ domain: 'AF_BOGUS' as never })).toThrow(RangeError);
  }
  expect(fdCount()).toBe(before);
});
