/**
 * Hand-off with node:net, both ways, with data flowing: an fd accepted with
 * the promise API becomes a net.Socket, a raw listening socket becomes a
 * net.Server, and the fd of a net.Server or net.Socket serves raw calls.
 * After a hand-off this package's close() refuses the fd.
 */
import * as net from 'node:net';
import {
  accept,
  bind,
  close,
  connect,
  dup,
  fdOf,
  getsockname,
  HandedOffError,
  isHandedOff,
  listen,
  recv,
  sendAll,
  socket,
  socketpair,
  toNetServer,
  toNetSocket,
  promises as p,
} from '../lib/index.ts';

function rawListener(): { fd: number; port: number } {
  const fd = socket('AF_INET', 'SOCK_STREAM');
  bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(fd);
  const a = getsockname(fd);
  return { fd, port: a.family === 'AF_INET' ? a.port : -1 };
}

function netClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => resolve(c));
    c.on('error', reject);
  });
}

function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(got));
  });
}

test('an fd accepted with the promise API serves as a net.Socket; close() refuses it until node:net closed it', async () => {
  const l = rawListener();
  const client = await netClient(l.port);
  const { fd } = await p.accept(l.fd);
  const s = toNetSocket(fd);
  expect(isHandedOff(fd)).toBe(true);
  expect(() => close(fd)).toThrow(HandedOffError);
  expect(() => close(fd)).toThrow(/close the net\.Socket/);
  const echoed = readAll(client);
  s.on('data', (d) => s.end(`echo ${d}`));
  client.write('hello');
  expect(await echoed).toBe('echo hello');
  await new Promise((r) => s.once('close', r));
  expect(isHandedOff(fd)).toBe(false);
  client.destroy();
  close(l.fd);
});

test('a raw listening socket serves as a net.Server', async () => {
  const l = rawListener();
  const server = toNetServer(
    l.fd,
    net.createServer((c) => c.end('from net.Server\n')),
  );
  await new Promise((r) => server.once('listening', r));
  expect(() => close(l.fd)).toThrow(HandedOffError);
  const c = await netClient(l.port);
  expect(await readAll(c)).toBe('from net.Server\n');
  await new Promise((r) => server.close(r));
  expect(isHandedOff(l.fd)).toBe(false);
});

test('the fd of a net.Server and of a net.Socket serve raw calls', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const lfd = fdOf(server);
  expect(() => close(lfd)).toThrow(HandedOffError);
  // A raw client's handshake is queued in the kernel; the raw accept takes
  // it before node:net's loop runs.
  const c = socket('AF_INET', 'SOCK_STREAM');
  connect(c, { family: 'AF_INET', address: '127.0.0.1', port });
  const a = accept(lfd);
  sendAll(c, 'raw to raw');
  expect(recv(a.fd, 100, { timeoutMs: 5000 }).toString()).toBe('raw to raw');
  close(a.fd);
  close(c);
  await new Promise((r) => server.close(r));

  // A net.Socket's fd: a raw send reaches the peer; a dup is ours to close.
  const l = rawListener();
  const ns = await netClient(l.port);
  const peer = await p.accept(l.fd);
  const sfd = fdOf(ns);
  const copy = dup(sfd);
  await p.sendAll(copy, 'raw through a net.Socket fd');
  expect((await p.recv(peer.fd, 100, { timeoutMs: 5000 })).toString()).toBe('raw through a net.Socket fd');
  close(copy);
  expect(() => close(sfd)).toThrow(HandedOffError);
  ns.destroy();
  await new Promise((r) => ns.once('close', r));
  expect(isHandedOff(sfd)).toBe(false);
  close(peer.fd);
  close(l.fd);
});

test('a hand-off rejects promise calls still waiting on the fd', async () => {
  const l = rawListener();
  const client = await netClient(l.port);
  const { fd } = await p.accept(l.fd);
  const pending = p.recv(fd, 10).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 20));
  const s = toNetSocket(fd);
  expect(await pending).toMatchObject({ code: 'EBADF' });
  s.destroy();
  client.destroy();
  close(l.fd);
});

test('a fd that cannot serve is refused at once, not later as an error event that ends the process', () => {
  const [a, b] = socketpair();
  const listener = socket('AF_INET', 'SOCK_STREAM');
  try {
    // Not listening: node:net would emit 'error' (EINVAL) after the call returned.
    expect(() => toNetServer(a)).toThrow(/must be a listening socket; fd \d+ is not/);
    bind(listener, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    listen(listener, 1);
    expect(() => toNetSocket(listener)).toThrow(/is a listening socket/);
    // Refused hand-offs leave the fds this package's own.
    expect(isHandedOff(a)).toBe(false);
    expect(isHandedOff(listener)).toBe(false);
  } finally {
    for (const fd of [a, b, listener]) close(fd);
  }
});
