/**
 * Flags are checked against what each call supports, in JavaScript and
 * again in C++, and no call returns more bytes than it had room for. The
 * MSG_TRUNC cases run in a subprocess: copying a datagram's full length
 * out of a smaller buffer crashes the process or reads past the heap.
 */
import * as lib from '../lib/index.ts';
import { native } from '../lib/native.ts';
import { runFixture } from './helpers.ts';

const MSG_TRUNC = 0x20;

describe('recv with MSG_TRUNC on a datagram socket', () => {
  test.each([
    ['native', 16],
    ['native', 100_000],
    ['lib', 16],
    ['lib', 100_000],
  ])('%s caller, %d bytes of room: no crash, never more bytes than room', async (caller, room) => {
    const r = await runFixture('recv-trunc', { args: [caller, String(room)], timeoutMs: 30000 });
    expect({ signal: r.signal, code: r.code, stderr: r.stderr }).toEqual({ signal: null, code: 0, stderr: '' });
    const out = JSON.parse(r.stdout) as { bytes?: number; error?: string; code?: string };
    if (out.bytes !== undefined) expect(out.bytes).toBeLessThanOrEqual(room);
    else expect(out.error).toBe('RangeError');
    // The JavaScript layer refuses the flag before the call, with Node's code.
    if (caller === 'lib') expect(out).toMatchObject({ error: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('every flags argument is checked against what its call supports', () => {
  let a: number;
  let b: number;
  beforeAll(() => {
    [a, b] = lib.socketpair('AF_UNIX', 'SOCK_STREAM', { nonblock: true });
  });
  afterAll(() => {
    lib.close(a);
    lib.close(b);
  });

  // Bits no call supports, and bits that belong to another call.
  const foreign: [string, (flags: number) => unknown][] = [
    ['send', (f) => lib.send(a, 'x', { flags: f })],
    ['recv', (f) => lib.recv(b, 1, { flags: f })],
  ];
  test.each(foreign)('%s refuses MSG_TRUNC, MSG_WAITALL on send, and unknown bits', (_name, call) => {
    for (const f of [MSG_TRUNC, 1 << 20, 0x40000000]) {
      expect(() => call(f)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    }
  });
  test('send refuses MSG_WAITALL and MSG_PEEK; recv refuses MSG_MORE', () => {
    for (const f of [lib.MSG_WAITALL, lib.MSG_PEEK])
      expect(() => lib.send(a, 'x', { flags: f })).toThrow(/options\.flags/);
    expect(() => lib.recv(b, 1, { flags: lib.MSG_MORE })).toThrow(/options\.flags/);
    expect(() => lib.recv(b, 1, { flags: lib.MSG_WAITALL | lib.MSG_PEEK })).toThrow(/options\.flags/);
  });
  test('the supported flags still work', () => {
    expect(lib.send(a, 'xy', { flags: lib.MSG_DONTWAIT | lib.MSG_MORE })).toBe(2);
    expect(lib.recv(b, 1, { flags: lib.MSG_PEEK }).toString()).toBe('x');
    expect(lib.recv(b, 2, { flags: lib.MSG_WAITALL | lib.MSG_DONTWAIT }).toString()).toBe('xy');
  });

  // The addon called directly, skipping JavaScript: the C++ side checks the same sets.
  const nativeCalls: [string, () => unknown][] = [
    ['socket', () => native.socket(lib.AF_UNIX, lib.SOCK_STREAM, 1)],
    ['socketpair', () => native.socketpair(lib.AF_UNIX, lib.SOCK_STREAM, 1 << 20)],
    ['pipe', () => native.pipe(1)],
    ['accept', () => native.accept(a, 1 << 20, 0)],
    ['send', () => native.send(a, Buffer.from('x'), MSG_TRUNC, 0)],
    ['send MSG_WAITALL', () => native.send(a, Buffer.from('x'), lib.MSG_WAITALL, 0)],
    ['recv', () => native.recv(b, 1, MSG_TRUNC, 0)],
    ['recv MSG_MORE', () => native.recv(b, 1, lib.MSG_MORE, 0)],
  ];
  test.each(nativeCalls)('the addon refuses unsupported flags: %s', (_name, call) => {
    expect(call).toThrow(expect.objectContaining({ name: 'RangeError', message: expect.stringMatching(/"flags"/) }));
  });
});
