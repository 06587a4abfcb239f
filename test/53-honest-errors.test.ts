/**
 * Errors say what happened: a timed-out call says "timed out" before
 * anything else, argument errors carry Node's codes as Node's own do,
 * binding a bound socket says it is bound, and an option a call cannot
 * honour is refused rather than ignored.
 */
import * as lib from '../lib/index.ts';

const opened: number[] = [];
afterEach(() => {
  while (opened.length) lib.close(opened.pop() as number);
});
function errorOf(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('did not throw');
}

test('a timed-out recv or accept is a TimeoutError whose message starts with "timed out"', () => {
  const [a] = lib.socketpair('AF_UNIX', 'SOCK_STREAM');
  opened.push(a);
  const e = errorOf(() => lib.recv(a, 1, { timeoutMs: 10 }));
  expect(e).toBeInstanceOf(lib.TimeoutError);
  expect(e.message).toMatch(/^recv timed out/);
  const s = lib.socket('AF_INET', 'SOCK_STREAM');
  opened.push(s);
  lib.bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  lib.listen(s, 1);
  const e2 = errorOf(() => lib.accept(s, { timeoutMs: 10 }));
  expect(e2).toBeInstanceOf(lib.TimeoutError);
  expect(e2.message).toMatch(/^accept timed out/);
});

test('SO_RCVTIMEO running out reads the same way', () => {
  const [a] = lib.socketpair('AF_UNIX', 'SOCK_STREAM');
  opened.push(a);
  lib.setsockopt(a, 'SO_RCVTIMEO', 0.01);
  expect(errorOf(() => lib.recv(a, 1)).message).toMatch(/^recv timed out/);
});

test('argument errors carry Node codes and print like Node errors', () => {
  const type = errorOf(() => lib.recv('3' as unknown as number, 1));
  expect(type).toBeInstanceOf(TypeError);
  expect(type.code).toBe('ERR_INVALID_ARG_TYPE');
  expect(String(type)).toMatch(/^TypeError \[ERR_INVALID_ARG_TYPE\]: The "fd" argument/);
  expect(type.stack).toMatch(/^TypeError \[ERR_INVALID_ARG_TYPE\]: /);
  expect(type.name).toBe('TypeError');
  const range = errorOf(() => lib.recv(0, -1));
  expect(range).toBeInstanceOf(RangeError);
  expect(range.code).toBe('ERR_OUT_OF_RANGE');
  const value = errorOf(() => lib.socket('AF_NOPE' as 'AF_INET', 'SOCK_STREAM'));
  expect(value).toBeInstanceOf(RangeError);
  expect(value.code).toBe('ERR_INVALID_ARG_VALUE');
  // The same in every module: signals, processes, socket options, the trace.
  expect(errorOf(() => lib.signal('SIGNOPE' as 'SIGINT', () => {})).code).toBe('ERR_INVALID_ARG_VALUE');
  expect(errorOf(() => lib.waitpid('1' as unknown as number)).code).toBe('ERR_INVALID_ARG_TYPE');
  expect(errorOf(() => lib.setsockopt(0, 'SO_NOPE' as 'SO_TYPE', 1)).code).toBe('ERR_INVALID_ARG_VALUE');
  expect(errorOf(() => lib.sleep(-1)).code).toBe('ERR_OUT_OF_RANGE');
});

test('binding a socket that is already bound says so', () => {
  const s = lib.socket('AF_INET', 'SOCK_STREAM');
  opened.push(s);
  lib.bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  const e = errorOf(() => lib.bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 }));
  expect(e.code).toBe('EINVAL');
  expect(e.message).toMatch(/already bound to 127\.0\.0\.1:\d+/);
  // An EINVAL for another reason does not claim it.
  const u = lib.socket('AF_INET', 'SOCK_STREAM');
  opened.push(u);
  const e2 = errorOf(() => lib.bind(u, { family: 'AF_INET6', address: '::1', port: 0 }));
  expect(e2.message).not.toMatch(/already bound/);
});

test('sleep refuses a timeoutMs it would not honour', () => {
  const e = errorOf(() => lib.sleep(0.001, { timeoutMs: 5 } as { onInterrupt?: 'throw' }));
  expect(e).toBeInstanceOf(RangeError);
  expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
  expect(e.message).toMatch(/timeoutMs/);
  expect(() => lib.sleep(0.001, { onInterrupt: 'retry' })).not.toThrow();
});

test('argument errors are plain TypeError and RangeError objects, as Node makes its own', () => {
  const e = errorOf(() => lib.recv('3' as unknown as number, 1));
  expect(e.constructor).toBe(TypeError);
  expect(errorOf(() => lib.recv(0, -1)).constructor).toBe(RangeError);
  expect(e.stack).not.toMatch(/ArgTypeError/);
});
