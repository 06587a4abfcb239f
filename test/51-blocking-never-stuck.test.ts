/**
 * Blocking calls never wait for what cannot come. A call the kernel would
 * fail at once fails at once (it used to wait in poll() for ever), and
 * timeoutMs holds even when another process takes the connection or the
 * data that woke this one. The two-process cases run in a subprocess
 * fixture that forks.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as lib from '../lib/index.ts';
import { runFixture } from './helpers.ts';

const opened: number[] = [];
function track<T extends number | number[]>(fds: T): T {
  opened.push(...(Array.isArray(fds) ? fds : [fds]));
  return fds;
}
afterEach(() => {
  while (opened.length) lib.close(opened.pop() as number);
});

// Runs a call that must fail at once: with a timeout of 3 s as the only
// bound, a call that waits shows as a TimeoutError after 3 s.
function failsAtOnce(call: (timeoutMs: number) => unknown): { code: string | undefined; err: unknown; ms: number } {
  const t0 = performance.now();
  try {
    call(3000);
  } catch (err) {
    return { code: (err as { code?: string }).code, err, ms: performance.now() - t0 };
  }
  throw new Error('the call succeeded');
}

describe('a blocking call fails at once where the kernel would', () => {
  test('accept on a socket pair: EINVAL', () => {
    const [a] = track(lib.socketpair('AF_UNIX', 'SOCK_STREAM'));
    const r = failsAtOnce((t) => lib.accept(a, { timeoutMs: t }));
    expect(r.code).toBe('EINVAL');
    expect(r.ms).toBeLessThan(1000);
  });
  test('accept on a pipe: ENOTSOCK', () => {
    const [rd] = track(lib.pipe());
    const r = failsAtOnce((t) => lib.accept(rd, { timeoutMs: t }));
    expect(r.code).toBe('ENOTSOCK');
    expect(r.ms).toBeLessThan(1000);
  });
  test('accept on a datagram socket: EOPNOTSUPP', () => {
    const s = track(lib.socket('AF_INET', 'SOCK_DGRAM'));
    const r = failsAtOnce((t) => lib.accept(s, { timeoutMs: t }));
    expect(lib.isErrno(r.err, 'EOPNOTSUPP')).toBe(true);
    expect(r.ms).toBeLessThan(1000);
  });
  test('accept on a bound TCP socket that is not listening: EINVAL', () => {
    const s = track(lib.socket('AF_INET', 'SOCK_STREAM'));
    lib.bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    const r = failsAtOnce((t) => lib.accept(s, { timeoutMs: t }));
    expect(r.code).toBe('EINVAL');
    expect(r.ms).toBeLessThan(1000);
  });
  test('recv with MSG_WAITALL on a pipe: ENOTSOCK', () => {
    const [rd] = track(lib.pipe());
    const r = failsAtOnce((t) => lib.recv(rd, 4, { flags: lib.MSG_WAITALL, timeoutMs: t }));
    expect(r.code).toBe('ENOTSOCK');
    expect(r.ms).toBeLessThan(1000);
  });
  test('recv with MSG_WAITALL on a listening socket: ENOTCONN', () => {
    const s = track(lib.socket('AF_INET', 'SOCK_STREAM'));
    lib.bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    lib.listen(s, 1);
    const r = failsAtOnce((t) => lib.recv(s, 4, { flags: lib.MSG_WAITALL, timeoutMs: t }));
    expect(r.code).toBe('ENOTCONN');
    expect(r.ms).toBeLessThan(1000);
  });
  test('send on a full pipe: ENOTSOCK', () => {
    const [, wr] = track(lib.pipe({ nonblock: true }));
    const chunk = Buffer.alloc(65536);
    for (;;) {
      try {
        fs.writeSync(wr, chunk);
      } catch {
        break;
      }
    }
    lib.setNonBlocking(wr, false);
    const r = failsAtOnce((t) => lib.send(wr, 'x', { timeoutMs: t }));
    expect(r.code).toBe('ENOTSOCK');
    expect(r.ms).toBeLessThan(1000);
  });
});

describe('MSG_WAITALL still waits for all of it', () => {
  test('on a stream socket it gathers several sends; end of stream ends it early', () => {
    const [a, b] = track(lib.socketpair('AF_UNIX', 'SOCK_STREAM'));
    lib.send(a, 'ab');
    lib.send(a, 'cd');
    expect(lib.recv(b, 4, { flags: lib.MSG_WAITALL, timeoutMs: 2000 }).toString()).toBe('abcd');
    // End of stream ends the wait early too.
    lib.send(a, 'f');
    lib.shutdown(a, 'SHUT_WR');
    expect(lib.recv(b, 4, { flags: lib.MSG_WAITALL, timeoutMs: 2000 }).toString()).toBe('f');
  });
  test('a timeout returns what arrived before it, as the kernel does with SO_RCVTIMEO', async () => {
    // In a subprocess: the old code waited in the kernel for the rest, for ever.
    const r = await runFixture('shared-fd-race', { args: ['waitall'], timeoutMs: 20000 });
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ got: 'e', after: 'TimeoutError' });
  });
  test('on a datagram socket it returns one datagram', () => {
    const [a, b] = track(lib.socketpair('AF_UNIX', 'SOCK_DGRAM'));
    lib.send(a, 'ab');
    lib.send(a, 'cd');
    expect(lib.recv(b, 4, { flags: lib.MSG_WAITALL, timeoutMs: 2000 }).toString()).toBe('ab');
    expect(lib.recv(b, 4, { flags: lib.MSG_WAITALL, timeoutMs: 2000 }).toString()).toBe('cd');
  });
});

describe('timeoutMs holds when another process shares the fd', () => {
  test.each(['accept', 'recv'])('%s on a fd a forked child also takes from', async (mode) => {
    const r = await runFixture('shared-fd-race', { args: [mode], timeoutMs: 30000 });
    expect(r.stderr).toBe('');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    const out = JSON.parse(r.stdout) as {
      rounds: number;
      got: number;
      timeouts: number;
      others: string[];
      maxMs: number;
    };
    expect(out.others).toEqual([]);
    expect(out.got + out.timeouts).toBe(out.rounds);
    // 150 ms each; a call stuck in the kernel takes until the child's next
    // connection or byte, a second later, or for ever after its last.
    expect(out.maxMs).toBeLessThan(800);
  });
});

test('the signal that ends a call at its deadline is reserved: sigaction refuses it', () => {
  // SIGRTMAX - 1: 63 on Linux, where SIGRTMAX is 64.
  expect(() => lib.sigaction(63, () => {})).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'sigaction' }));
  expect(() => lib.sigaction(62, () => {})).not.toThrow();
  lib.sigaction(62, 'default');
});
