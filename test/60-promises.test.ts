/**
 * The promise API on real sockets over loopback: round trips while a timer
 * keeps firing, and for every call that waits an abort (AbortError, the fd
 * still usable afterwards), a timeout (TimeoutError) and a close while it
 * waits (BadFileDescriptorError); many waits on different fds at once; the
 * watches are released when their fds close.
 */
import {
  AF_INET,
  bind,
  BadFileDescriptorError,
  BlockingIOError,
  close,
  getsockname,
  listen,
  MSG_DONTWAIT,
  send as sendNow,
  setsockopt,
  socket,
  socketpair,
  TimeoutError,
  promises as p,
} from '../lib/index.ts';
import { watchStats } from '../lib/promises/readiness.ts';
import { fdCount } from './helpers.ts';

const opened: number[] = [];
function track(...fds: number[]): number[] {
  opened.push(...fds);
  return fds;
}
afterEach(() => {
  for (const fd of opened.splice(0)) {
    try {
      close(fd);
    } catch {
      // closed by the test itself
    }
  }
});

function listener(backlog = 16): { fd: number; port: number } {
  const [fd] = track(socket('AF_INET', 'SOCK_STREAM'));
  bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(fd, backlog);
  const a = getsockname(fd);
  return { fd, port: a.family === 'AF_INET' ? a.port : -1 };
}

function pair(): [number, number] {
  return track(...socketpair('AF_UNIX', 'SOCK_STREAM')) as [number, number];
}

// A socket whose send buffer is full, and its peer.
function fullPair(): [number, number] {
  const [a, b] = pair();
  setsockopt(a, 'SO_SNDBUF', 4096);
  const chunk = Buffer.alloc(65536);
  for (;;) {
    try {
      sendNow(a, chunk, { flags: MSG_DONTWAIT });
    } catch (err) {
      if (err instanceof BlockingIOError) return [a, b];
      throw err;
    }
  }
}

const abortedWith = (signal: AbortSignal) => ({ name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason });

test('accept, connect, recv and sendAll round trip while a 10 ms timer keeps firing', async () => {
  const { fd, port } = listener();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  try {
    const accepted = p.accept(fd);
    const [c] = track(socket('AF_INET', 'SOCK_STREAM'));
    await p.connect(c, { family: 'AF_INET', address: '127.0.0.1', port });
    const a = await accepted;
    track(a.fd);
    expect(a.address.family).toBe('AF_INET');
    const reading = p.recv(a.fd, 100);
    await p.sleep(0.1);
    await p.sendAll(c, 'ping\n');
    expect((await reading).toString()).toBe('ping\n');
    expect(ticks).toBeGreaterThanOrEqual(3);
  } finally {
    clearInterval(timer);
  }
  expect(AF_INET).toBeGreaterThan(0);
});

describe('every call that waits: abort, timeout, close while pending', () => {
  // Each case starts a call that has to wait on `fd`, and then makes it
  // succeed to show the fd is still usable.
  interface Case {
    name: string;
    setup(): { fd: number; start(o: p.AsyncOptions): Promise<unknown>; unblock(): Promise<unknown> | void };
  }
  const cases: Case[] = [
    {
      name: 'accept',
      setup() {
        const { fd, port } = listener();
        return {
          fd,
          start: (o) => p.accept(fd, o),
          unblock: async () => {
            const [c] = track(socket('AF_INET', 'SOCK_STREAM'));
            await p.connect(c, { family: 'AF_INET', address: '127.0.0.1', port });
            track((await p.accept(fd)).fd);
          },
        };
      },
    },
    {
      name: 'recv',
      setup() {
        const [a, b] = pair();
        return {
          fd: a,
          start: (o) => p.recv(a, 10, o),
          unblock: async () => {
            await p.send(b, 'x');
            expect((await p.recv(a, 10)).toString()).toBe('x');
          },
        };
      },
    },
    {
      name: 'send',
      setup() {
        const [a, b] = fullPair();
        return {
          fd: a,
          start: (o) => p.send(a, Buffer.alloc(1), o),
          unblock: async () => {
            const drained = (async () => {
              for (let got = 0; got < 1;) got += (await p.recv(b, 1 << 20, { timeoutMs: 5000 })).length;
            })();
            await drained;
            expect(await p.send(a, Buffer.alloc(1), { timeoutMs: 5000 })).toBe(1);
          },
        };
      },
    },
    {
      name: 'sendAll',
      setup() {
        const [a, b] = fullPair();
        return {
          fd: a,
          start: (o) => p.sendAll(a, Buffer.alloc(100), o),
          unblock: async () => {
            const reader = (async () => {
              for (;;)
                if ((await p.recv(b, 1 << 20, { timeoutMs: 2000 }).catch(() => Buffer.alloc(0))).length === 0) return;
            })();
            expect(await p.sendAll(a, Buffer.alloc(100), { timeoutMs: 5000 })).toBe(100);
            close(a);
            await reader;
          },
        };
      },
    },
    {
      name: 'connect',
      setup() {
        // backlog 0 holds one finished handshake; the next SYN is dropped.
        const { fd: l, port } = listener(0);
        const [first] = track(socket('AF_INET', 'SOCK_STREAM'));
        const [c] = track(socket('AF_INET', 'SOCK_STREAM'));
        const to = { family: 'AF_INET' as const, address: '127.0.0.1', port };
        const primed = p.connect(first, to);
        return {
          fd: c,
          start: async (o) => {
            await primed;
            return p.connect(c, to, o);
          },
          unblock: async () => {
            // A fresh socket: an aborted connect goes on in the kernel.
            track((await p.accept(l)).fd);
            const [d] = track(socket('AF_INET', 'SOCK_STREAM'));
            await p.connect(d, to, { timeoutMs: 5000 });
          },
        };
      },
    },
    {
      name: 'Socket.accept',
      setup() {
        const { fd, port } = listener();
        const server = new p.Socket({ fd });
        return {
          fd,
          start: (o) => server.accept(o),
          unblock: async () => {
            const [c] = track(socket('AF_INET', 'SOCK_STREAM'));
            await p.connect(c, { family: 'AF_INET', address: '127.0.0.1', port });
            const s = await server.accept();
            track(s.fd);
            expect(s).toBeInstanceOf(p.Socket);
          },
        };
      },
    },
    {
      name: 'Socket.send',
      setup() {
        const [a, b] = fullPair();
        const s = new p.Socket({ fd: a, domain: 'AF_UNIX' });
        return {
          fd: a,
          start: (o) => s.send('more', o),
          unblock: async () => {
            for (let got = 0; got < 1;) got += (await p.recv(b, 1 << 20, { timeoutMs: 5000 })).length;
            expect(await s.send('x', { timeoutMs: 5000 })).toBe(1);
          },
        };
      },
    },
    {
      name: 'Socket.readLine',
      setup() {
        const [a, b] = pair();
        const s = new p.Socket({ fd: a, domain: 'AF_UNIX' });
        return {
          fd: a,
          start: (o) => s.readLine(100, o),
          unblock: async () => {
            await p.send(b, 'line\n');
            expect(await s.readLine()).toBe('line');
          },
        };
      },
    },
  ];

  test.each(cases.map((c) => [c.name, c]))('%s: AbortError, then the fd works', async (_n, c) => {
    const { start, unblock } = c.setup();
    const ac = new AbortController();
    const pending = start({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('enough')), 30);
    const err = await pending.catch((e: unknown) => e);
    expect(err).toMatchObject(abortedWith(ac.signal));
    await unblock();
    // Watches are narrowed once the turn of the loop is over.
    await new Promise((r) => setImmediate(r));
    expect(watchStats().active).toBe(0);
  });

  test.each(cases.map((c) => [c.name, c]))('%s: an aborted signal rejects before any call', async (_n, c) => {
    const { start } = c.setup();
    const signal = AbortSignal.abort();
    await expect(start({ signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  test.each(cases.map((c) => [c.name, c]))('%s: TimeoutError after timeoutMs', async (_n, c) => {
    const { start } = c.setup();
    const t0 = performance.now();
    const err = await start({ timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).timedOut).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  test.each(cases.map((c) => [c.name, c]))('%s: closing the fd rejects it with EBADF', async (_n, c) => {
    const { fd, start } = c.setup();
    const pending = start({});
    await new Promise((r) => setTimeout(r, 30));
    close(fd);
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadFileDescriptorError);
    expect((err as BadFileDescriptorError).fd).toBe(fd);
    await new Promise((r) => setImmediate(r));
    expect(watchStats().active).toBe(0);
  });
});

test('sleep: resolves after the time, AbortError on abort', async () => {
  const t0 = performance.now();
  await p.sleep(0.05);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  const ac = new AbortController();
  const s = p.sleep(10, { signal: ac.signal });
  ac.abort('stop');
  await expect(s).rejects.toMatchObject({ name: 'AbortError', cause: 'stop' });
});

test('bad arguments are refused as the blocking calls refuse them', async () => {
  await expect(p.accept(-1)).rejects.toThrow(RangeError);
  await expect(p.recv(0, 0)).rejects.toThrow(RangeError);
  await expect(p.send(0, 42 as unknown as string)).rejects.toThrow(TypeError);
  await expect(p.recv(0, 1, { signal: 'no' as unknown as AbortSignal })).rejects.toThrow(TypeError);
  await expect(p.recv(0, 1, { timeoutMs: -1 })).rejects.toThrow(RangeError);
});

test('200 calls wait on 200 fds at once; each gets its own data', async () => {
  const fdsBefore = fdCount();
  const pairs = Array.from({ length: 200 }, () => pair());
  const reads = pairs.map(([a]) => p.recv(a, 100, { timeoutMs: 20000 }));
  await new Promise((r) => setTimeout(r, 20));
  expect(watchStats().active).toBe(200);
  const order = pairs.map((_, i) => i).sort(() => Math.random() - 0.5);
  for (const i of order) await p.send(pairs[i][1], `fd pair ${i}`);
  const got = await Promise.all(reads);
  got.forEach((b, i) => expect(b.toString()).toBe(`fd pair ${i}`));
  for (const [a, b] of pairs) {
    close(a);
    close(b);
  }
  opened.length = 0;
  expect(watchStats()).toEqual({ fds: 0, watches: 0, active: 0 });
  expect(fdCount()).toBe(fdsBefore - 0);
});

test('MSG_DONTWAIT makes a call reject with BlockingIOError instead of waiting', async () => {
  const [a] = pair();
  await expect(p.recv(a, 10, { flags: MSG_DONTWAIT })).rejects.toBeInstanceOf(BlockingIOError);
});
