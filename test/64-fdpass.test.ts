/**
 * Descriptor passing (SCM_RIGHTS) over UNIX stream and datagram sockets,
 * blocking and async: 1 and 253 fds, received fds close-on-exec by default,
 * more fds than asked for (EMSGSIZE) closing whatever arrived, fd counts
 * unchanged; and sendto/recvfrom on unconnected datagram sockets.
 */
import {
  bind,
  close,
  dup,
  getsockname,
  isCloseOnExec,
  MSG_DONTWAIT,
  pipe,
  PosixError,
  recvFds,
  recvfrom,
  sendFds,
  sendto,
  socket,
  socketpair,
  TimeoutError,
  promises as p,
} from '../lib/index.ts';
import * as fs from 'node:fs';
import { fdCount } from './helpers.ts';

// What a pipe's write end carries, read back from its read end.
function throughPipe(writeFd: number, readFd: number, text: string): string {
  fs.writeSync(writeFd, text);
  const b = Buffer.alloc(100);
  return b.toString('utf8', 0, fs.readSync(readFd, b));
}

describe.each(['SOCK_STREAM', 'SOCK_DGRAM'] as const)('%s', (type) => {
  test('one fd, blocking: the received fd writes into the same pipe, close-on-exec by default', () => {
    const before = fdCount();
    const [a, b] = socketpair('AF_UNIX', type);
    const [r, w] = pipe();
    expect(sendFds(a, 'x', [w])).toBe(1);
    const m = recvFds(b, 10, 4);
    expect(m.data.toString()).toBe('x');
    expect(m.fds).toHaveLength(1);
    expect(m.fds[0]).not.toBe(w);
    expect(isCloseOnExec(m.fds[0])).toBe(true);
    expect(throughPipe(m.fds[0], r, 'through the passed fd')).toBe('through the passed fd');
    for (const f of [a, b, r, w, ...m.fds]) close(f);
    expect(fdCount()).toBe(before);
  });

  test('253 fds, async, cloexec: false keeps them inheritable', async () => {
    const before = fdCount();
    const [a, b] = socketpair('AF_UNIX', type);
    const [r, w] = pipe();
    const copies = Array.from({ length: 253 }, () => dup(w));
    const receiving = p.recvFds(b, 10, 253, { cloexec: false, timeoutMs: 10000 });
    expect(await p.sendFds(a, 'many', copies)).toBe(4);
    const m = await receiving;
    expect(m.fds).toHaveLength(253);
    expect(new Set(m.fds).size).toBe(253);
    expect(isCloseOnExec(m.fds[252])).toBe(false);
    expect(throughPipe(m.fds[252], r, 'last')).toBe('last');
    for (const f of [a, b, r, w, ...copies, ...m.fds]) close(f);
    expect(fdCount()).toBe(before);
  });

  test('more fds than maxFds: EMSGSIZE, every fd that arrived closed', async () => {
    const before = fdCount();
    const [a, b] = socketpair('AF_UNIX', type);
    const [r, w] = pipe();
    sendFds(a, 'x', [w, w, w]);
    expect(() => recvFds(b, 10, 1)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    sendFds(a, 'y', [w, w]);
    await expect(p.recvFds(b, 10, 0)).rejects.toBeInstanceOf(PosixError);
    for (const f of [a, b, r, w]) close(f);
    expect(fdCount()).toBe(before);
  });

  test('async recvFds: timeout, abort, and close while pending', async () => {
    const [a, b] = socketpair('AF_UNIX', type);
    await expect(p.recvFds(b, 10, 1, { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const aborted = p.recvFds(b, 10, 1, { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    const pending = p.recvFds(b, 10, 1).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    close(b);
    expect(await pending).toMatchObject({ code: 'EBADF' });
    close(a);
  });
});

test('async sendFds on a full socket and recvfrom: timeout, abort, close while pending', async () => {
  const [a, b] = socketpair('AF_UNIX', 'SOCK_DGRAM');
  const [r, w] = pipe();
  // Fill the datagram queue until a send would wait.
  for (;;) {
    const n = await p.sendFds(a, 'x', [w], { flags: MSG_DONTWAIT }).catch(() => -1);
    if (n < 0) break;
  }
  await expect(p.sendFds(a, 'x', [w], { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
  const ac = new AbortController();
  const aborted = p.sendFds(a, 'x', [w], { signal: ac.signal });
  ac.abort();
  await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
  const pending = p.sendFds(a, 'x', [w]).catch((e: unknown) => e);
  await new Promise((res) => setTimeout(res, 20));
  close(a);
  expect(await pending).toMatchObject({ code: 'EBADF' });
  // Every queued message's fd is closed with the socket that holds it.
  close(b);
  const s = socket('AF_INET', 'SOCK_DGRAM');
  bind(s, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  await expect(p.recvfrom(s, 10, { timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
  const pendingFrom = p.recvfrom(s, 10).catch((e: unknown) => e);
  await new Promise((res) => setTimeout(res, 20));
  close(s);
  expect(await pendingFrom).toMatchObject({ code: 'EBADF' });
  close(r);
  close(w);
});

test('sendto/recvfrom on unconnected datagram sockets, blocking and async', async () => {
  const s1 = socket('AF_INET', 'SOCK_DGRAM');
  const s2 = socket('AF_INET', 'SOCK_DGRAM');
  bind(s1, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  bind(s2, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  const a1 = getsockname(s1);
  const a2 = getsockname(s2);
  expect(sendto(s1, 'hello', a2)).toBe(5);
  const got = recvfrom(s2, 100, { timeoutMs: 5000 });
  expect(got.data.toString()).toBe('hello');
  expect(got.address).toEqual(a1);
  const reply = p.recvfrom(s1, 100, { timeoutMs: 5000 });
  await p.sendto(s2, 'back', got.address);
  const r = await reply;
  expect(r.data.toString()).toBe('back');
  expect(r.address).toEqual(a2);
  close(s1);
  close(s2);
});

test('bad arguments', () => {
  expect(() => sendFds(0, '', [1])).toThrow(RangeError);
  expect(() => sendFds(0, 'x', Array(254).fill(1))).toThrow(RangeError);
  expect(() => sendFds(0, 'x', [-1])).toThrow(RangeError);
  expect(() => recvFds(0, 10, 254)).toThrow(RangeError);
  expect(() => recvFds(0, 10, 1, { cloexec: 'yes' as unknown as boolean })).toThrow(TypeError);
});
