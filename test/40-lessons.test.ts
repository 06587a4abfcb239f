/**
 * The lesson examples, each started as a real process from dist/examples
 * (node --single-threaded), talked to over TCP on a free loopback port, and
 * judged by its replies, its output, its children in /proc and its exit.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SIGUSR1_IGNORED } from '../examples/tools/server-care.ts';
import {
  askBytes,
  askLine,
  childrenOf,
  exitOf,
  freePort,
  killWatched,
  root,
  startExample,
  startFixture,
  until,
  watch,
  zombiesOf,
  type Watched,
} from './helpers.ts';

/** Starts an example; what is left running is killed after each test. */
function start(name: string, args: string[], singleThreaded = true): Watched {
  return startExample(name, args, { singleThreaded });
}

/**
 * Starts an example below a subreaper (test/fixtures/subreaper.ts), for a
 * lesson that never reaps: once the lesson is stopped, its zombies pass to
 * the subreaper, which reaps them and exits, instead of to pid 1. Returns
 * the subreaper and the lesson's own pid.
 */
async function startReaped(name: string, args: string[]): Promise<{ sub: Watched; pid: number }> {
  const file = path.join(root, 'dist', 'examples', `${name}.js`);
  const sub = watch(startFixture('subreaper', { args: [file, ...args] }));
  const pid = Number(await until('the lesson started', () => /^subreaper: started (\d+)$/m.exec(sub.out())?.[1]));
  return { sub, pid };
}

function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

async function listening(r: Watched, port: number): Promise<void> {
  await until(`"Listening on" from ${r.pid}:\n${r.out()}${r.err()}`, () =>
    r.out().includes(`Listening on: 127.0.0.1:${port}`),
  );
}

/** Runs examples/tools/client.js to its end. */
async function runClient(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const r = start('tools/client', args, false);
  const { code } = await exitOf(r, 90000);
  return { code, out: r.out(), err: r.err() };
}

/**
 * Opens a connection and sends a line; resolves with the reply as soon as it
 * is complete, and reports separately whether end of stream came.
 */
function openAndAsk(port: number, line: string): { reply: Promise<string>; ended: Promise<void>; socket: net.Socket } {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let gotReply: (s: string) => void = () => {};
  const reply = new Promise<string>((resolve) => (gotReply = resolve));
  const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()));
  socket.on('connect', () => socket.write(`${line}\n`));
  socket.on('data', (d) => {
    data += d;
    if (data.endsWith('\n')) gotReply(data);
  });
  socket.on('error', () => {});
  return { reply, ended, socket };
}

afterEach(killWatched);

/** The reply to a line: the prefix, the line's bytes as they came, a newline. */
const replyTo = (line: Buffer): Buffer => Buffer.concat([Buffer.from('SERVED BY Node: '), line, Buffer.from('\n')]);
/** A line that is not UTF-8 (a lone continuation byte, 0xfe, 0xff, a broken pair): decoded, each would become U+FFFD. */
const RAW = Buffer.concat([Buffer.from('raw '), Buffer.from([0x80, 0xfe, 0xff, 0xc3, 0x28])]);

describe('fork-per-connection', () => {
  test('serves several connections and, never reaping, leaves one zombie per connection', async () => {
    const port = await freePort();
    const { sub, pid } = await startReaped('2-fork-per-connection', ['--port', String(port)]);
    await until('the banner', () => sub.out().includes(`Listening on: 127.0.0.1:${port}`));
    for (let i = 0; i < 3; i++) expect(await askLine(port, `seq ${i}`)).toBe(`SERVED BY Node: seq ${i}\n`);
    const together = await Promise.all([0, 1, 2, 3].map((i) => askLine(port, `par ${i}`)));
    expect(together).toEqual([0, 1, 2, 3].map((i) => `SERVED BY Node: par ${i}\n`));
    const zombies = await until('7 zombies', () => zombiesOf(pid).length >= 7 && zombiesOf(pid));
    expect(zombies).toHaveLength(7);
    expect(sub.out()).toContain(`ps -o pid,stat,cmd --ppid ${pid}`);
    process.kill(pid, 'SIGTERM');
    // The lesson and its 7 zombies, all reaped by the subreaper, which then exits.
    expect(await exitOf(sub)).toEqual({ code: 0, signal: null });
    expect(sub.out()).toContain(`subreaper: reaped ${pid} signaled SIGTERM`);
    expect(sub.out().match(/^subreaper: reaped /gm)).toHaveLength(8);
  });
});

describe('zombies', () => {
  test('shows Z-state children while running, then reaps them and exits 0 after --max', async () => {
    const port = await freePort();
    const r = start('3-zombies', ['--port', String(port), '--max', '4']);
    await listening(r, port);
    // Output may arrive in several chunks: wait for the hint line itself.
    await until('the ps hint', () => r.out().includes(`ps -o pid,stat,cmd --ppid ${r.pid}`));
    for (let i = 0; i < 3; i++) expect(await askLine(port, `z ${i}`)).toBe(`SERVED BY Node: z ${i}\n`);
    const zombies = await until('3 zombies', () => zombiesOf(r.pid).length === 3 && zombiesOf(r.pid));
    // The same children, as ps would list them: state Z.
    for (const z of zombies) {
      const stat = fs.readFileSync(`/proc/${z}/stat`, 'utf8');
      expect(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]).toBe('Z');
    }
    expect(alive(r.pid)).toBe(true);
    expect(await askLine(port, 'last')).toBe('SERVED BY Node: last\n');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    expect(r.out()).toContain('Reaped 4 zombies');
    for (const z of zombies) expect(alive(z)).toBe(false);
  });

  test('--no-close: the reply arrives, but end of stream only when the parent lets go of its copy', async () => {
    const port = await freePort();
    const r = start('3-zombies', ['--port', String(port), '--max', '2', '--no-close']);
    await listening(r, port);
    const first = openAndAsk(port, 'held');
    expect(await first.reply).toBe('SERVED BY Node: held\n');
    // The child has replied, closed its copy and exited (a zombie now); the
    // parent's copy keeps the connection open.
    await until('the first child to exit', () => zombiesOf(r.pid).length === 1);
    const early = await Promise.race([
      first.ended.then(() => 'ended'),
      new Promise((res) => setTimeout(() => res('still open'), 700)),
    ]);
    expect(early).toBe('still open');
    expect(r.out()).toMatch(/#1: child \d+; parent still holds fd \d+/);
    // The second connection reaches --max: the parent closes its copies and
    // the first client finally sees EOF.
    expect(await askLine(port, 'second')).toBe('SERVED BY Node: second\n');
    await first.ended;
    first.socket.destroy();
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    expect(r.out()).toContain('Reaped 2 zombies');
  });
});

describe('naive-sigchld', () => {
  test('the first child that exits interrupts accept(2), and the uncaught InterruptedError ends the server', async () => {
    const port = await freePort();
    const r = start('4-naive-sigchld', ['--port', String(port)]);
    await listening(r, port);
    expect(await askLine(port, 'only one')).toBe('SERVED BY Node: only one\n');
    const end = await exitOf(r);
    expect(end).toEqual({ code: 1, signal: null });
    expect(r.out()).toMatch(/Worker \d+ is shutting down/);
    expect(r.err()).toContain('InterruptedError: accept EINTR');
    expect(r.err()).toContain("code: 'EINTR'");
  });
});

describe('reap-loop', () => {
  test('serves 200 connections from the load client, leaves no zombie, and keeps running', async () => {
    const port = await freePort();
    const r = start('5-reap-loop', ['--port', String(port)]);
    await listening(r, port);
    const c = await runClient(['--port', String(port), '--connections', '200', '--concurrency', '8']);
    expect(c.err).toBe('');
    expect(c.out).toMatch(/^ok=200 errors=0 elapsed=[\d.]+s rate=\d+\/s$/m);
    expect(c.code).toBe(0);
    await until('every child reaped', () => zombiesOf(r.pid).length === 0 && childrenOf(r.pid).length === 0);
    // One line per reaped child (the last lines may still be in the pipe).
    await until('200 reaped lines', () => (r.out().match(/Worker \d+ is shutting down/g) ?? []).length >= 200);
    expect(r.out().match(/Worker \d+ is shutting down/g)).toHaveLength(200);
    expect(alive(r.pid)).toBe(true);
    expect(await askLine(port, 'still here')).toBe('SERVED BY Node: still here\n');
    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toEqual({ code: null, signal: 'SIGTERM' });
  });
});

describe("the lessons' handleConnection", () => {
  // How each lesson's child is collected afterwards, so that no zombie is
  // left to init (lesson 2 never reaps, so it is left out here; test 41
  // checks that its handleConnection is the same code).
  const reaped = (r: Watched) => until('the child reaped', () => /Worker \d+ is shutting down/.test(r.out()));
  const lessons: [string, (r: Watched) => Promise<unknown>][] = [
    [
      '3-zombies',
      async (r) => {
        r.child.kill('SIGTERM');
        expect(await exitOf(r)).toEqual({ code: 0, signal: null });
        expect(r.out()).toContain('Reaped 1 zombies');
      },
    ],
    ['4-naive-sigchld', reaped],
    ['5-reap-loop', reaped],
  ];

  test.each(lessons)(
    '%s: a client that never sends its line gets an ERROR line after --timeout, and end of stream',
    async (name, collect) => {
      const port = await freePort();
      const r = start(name, ['--port', String(port), '--timeout', '0.5']);
      await listening(r, port);
      const silent = net.connect(port, '127.0.0.1');
      let data = '';
      let ended = false;
      silent.on('data', (d) => (data += d));
      silent.on('end', () => (ended = true));
      silent.on('error', () => {});
      // The child gives up on its own: the reply and the end of stream come without a word from us.
      await until(`end of stream; so far ${JSON.stringify(data)}`, () => ended);
      silent.destroy();
      expect(data).toMatch(/^ERROR: .*(ETIMEDOUT|timed out)/i);
      await collect(r);
    },
  );

  test.each(lessons)('%s echoes the bytes of a line exactly, UTF-8 or not', async (name, collect) => {
    const port = await freePort();
    const r = start(name, ['--port', String(port)]);
    await listening(r, port);
    const reply = await askBytes(port, Buffer.concat([RAW, Buffer.from('\n')]));
    expect(reply.toString('hex')).toBe(replyTo(RAW).toString('hex'));
    await collect(r);
  });
});

describe('SIGUSR1', () => {
  test('5-reap-loop: SIGUSR1 opens no debugger, in the server or in a child, and interrupts nothing', async () => {
    const port = await freePort();
    const r = start('5-reap-loop', ['--port', String(port)]);
    await listening(r, port);
    // A client that connects and waits: a child serves it, and its line comes after the signals.
    const waiting = net.connect(port, '127.0.0.1');
    let data = '';
    waiting.on('data', (d) => (data += d));
    waiting.on('error', () => {});
    const ended = new Promise<void>((res) => waiting.on('end', () => res()));
    await new Promise<void>((res) => waiting.once('connect', () => res()));
    const kid = await until('a child', () => childrenOf(r.pid)[0]);
    const threads = fs.readdirSync(`/proc/${r.pid}/task`).length;
    process.kill(r.pid, 'SIGUSR1');
    process.kill(kid, 'SIGUSR1');
    await new Promise((res) => setTimeout(res, 300));
    expect(alive(kid)).toBe(true);
    waiting.write('usr1\n');
    await ended;
    expect(data).toBe('SERVED BY Node: usr1\n');
    // Node starts its inspector only when the main thread runs JavaScript
    // again: a request makes the server do that.
    expect(await askLine(port, 'after usr1')).toBe('SERVED BY Node: after usr1\n');
    await new Promise((res) => setTimeout(res, 500));
    expect(alive(r.pid)).toBe(true);
    expect(r.err()).not.toMatch(/Debugger/);
    expect(fs.readdirSync(`/proc/${r.pid}/task`).length).toBe(threads);
    waiting.destroy();
    await until('every child reaped', () => childrenOf(r.pid).length === 0);
    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toEqual({ code: null, signal: 'SIGTERM' });
  });
});

describe('client', () => {
  test('reports errors and exits non-zero when replies are wrong or missing', async () => {
    // A server that answers with the wrong prefix (and reads what comes, so
    // that it sees the client's end of stream and its sockets close).
    const port = await freePort();
    const srv = net.createServer((s) => s.resume().end('SERVED BY Someone: else\n'));
    await new Promise<void>((res) => srv.listen(port, '127.0.0.1', () => res()));
    try {
      const c = await runClient(['--port', String(port), '--connections', '5', '--concurrency', '2']);
      expect(c.out).toMatch(/^ok=0 errors=5 /m);
      expect(c.err).toContain('expected "SERVED BY Node: hello');
      expect(c.code).toBe(1);
    } finally {
      await new Promise((res) => srv.close(res));
    }
    // Nothing listening at all.
    const closed = await freePort();
    const c = await runClient(['--port', String(closed), '--connections', '3', '--concurrency', '3']);
    expect(c.out).toMatch(/^ok=0 errors=3 /m);
    expect(c.err).toContain('ECONNREFUSED');
    expect(c.code).toBe(1);
  });
});

describe('prefork-server', () => {
  function workerPids(r: Watched): number[] {
    return [...r.out().matchAll(/Worker (\d+) started/g)].map((m) => Number(m[1]));
  }

  test('2 workers serve 2,000 connections, a killed worker is replaced, SIGTERM stops all with status 0', async () => {
    const port = await freePort();
    const r = start('prefork-server', ['--port', String(port), '--workers', '2']);
    await listening(r, port);
    const first = await until('2 workers', () => workerPids(r).length === 2 && workerPids(r));
    expect(childrenOf(r.pid).sort()).toEqual([...first].sort());

    const load = await runClient(['--port', String(port), '--connections', '2000', '--concurrency', '16']);
    expect(load.out).toMatch(/^ok=2000 errors=0 /m);
    expect(load.code).toBe(0);

    // Kill one worker outright: the parent's SIGCHLD handler reaps it and forks a new one.
    process.kill(first[0], 'SIGKILL');
    await until('a replacement worker', () => workerPids(r).length === 3);
    const replacement = workerPids(r)[2];
    expect(r.out()).toContain(`Worker ${first[0]} died (killed by SIGKILL)`);
    expect(first).not.toContain(replacement);
    await until('the dead worker gone', () => !alive(first[0]));
    expect(childrenOf(r.pid).sort()).toEqual([first[1], replacement].sort());
    const after = await runClient(['--port', String(port), '--connections', '300', '--concurrency', '8']);
    expect(after.out).toMatch(/^ok=300 errors=0 /m);

    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    expect(r.out()).toContain(`Worker ${first[1]} is shutting down`);
    expect(r.out()).toContain(`Worker ${replacement} is shutting down`);
    for (const pid of [r.pid, ...first, replacement]) expect(alive(pid)).toBe(false);
  });

  test('SIGTERM while a worker waits for a slow client: that client still gets its reply', async () => {
    const port = await freePort();
    const r = start('prefork-server', ['--port', String(port), '--workers', '2']);
    await listening(r, port);
    const workers = await until('2 workers', () => workerPids(r).length === 2 && workerPids(r));
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d));
    const ended = new Promise<void>((res) => s.on('end', () => res()));
    await new Promise<void>((res) => s.on('connect', () => res()));
    // Let a worker accept it and start waiting for the line.
    await new Promise((res) => setTimeout(res, 300));
    r.child.kill('SIGTERM');
    await until('the stop message', () => r.out().includes('stopping 2 workers'));
    await new Promise((res) => setTimeout(res, 300));
    s.write('late line\n');
    await ended;
    expect(data).toBe('SERVED BY Node: late line\n');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    for (const pid of [r.pid, ...workers]) expect(alive(pid)).toBe(false);
  });
});

describe('command-line options of the examples', () => {
  const run = (name: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const file = path.join(root, 'dist', 'examples', `${name}.js`);
    const r = spawnSync(process.execPath, ['--single-threaded', file, ...args], {
      encoding: 'utf8',
      timeout: 20000,
      env: { ...process.env, PORT: '', ...env },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  test('--help lists the options and exits 0', async () => {
    const r = run('forking-server', ['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--port VALUE/);
    expect(r.out).toMatch(/--linger VALUE/);
    expect(r.out).toMatch(/--timeout VALUE/);
  });

  test('--help of every program that forks says that SIGUSR1 is ignored, in the same words', () => {
    const lines = (name: string) => run(name, ['--help']).out.split('\n');
    expect(lines('forking-server')).toContain(`${SIGUSR1_IGNORED} SIGTERM/SIGINT stop gracefully.`);
    for (const lesson of ['2-fork-per-connection', '3-zombies', '4-naive-sigchld', '5-reap-loop']) {
      expect([lesson, lines(lesson)]).toEqual([lesson, expect.arrayContaining([SIGUSR1_IGNORED])]);
    }
    // The iterative server does not fork, and does not claim it.
    expect(run('1-iterative-server', ['--help']).out).not.toContain('SIGUSR1');
  });

  test.each([
    ['forking-server', ['--bogus'], 'unknown option --bogus'],
    ['forking-server', ['--port'], '--port needs a value'],
    ['forking-server', ['--port', '--linger', '0'], '--port needs a value'],
    ['forking-server', ['--linger=abc'], "--linger wants a number from 0 to 3600, got 'abc'"],
    ['3-zombies', ['--max', '2000'], "--max wants a whole number from 1 to 1000, got '2000'"],
    ['5-reap-loop', ['--quiet=yes'], '--quiet takes no value'],
    ['tools/client', ['stray'], "unexpected argument 'stray'"],
    ['5-reap-loop', ['--constructor'], 'unknown option --constructor'],
    ['prefork-server', ['--workers', '0'], "--workers wants a whole number from 1 to 64, got '0'"],
  ])('%s %j is refused: %s', async (name, args, message) => {
    const r = run(name, args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.out).toBe('');
  });

  test('a bad PORT in the environment is named as such', async () => {
    const r = run('prefork-server', [], { PORT: 'eighty' });
    expect(r.code).toBe(2);
    expect(r.err).toContain("PORT (environment) wants a whole number from 0 to 65535, got 'eighty'");
  });

  test('--port=N works like --port N', async () => {
    const port = await freePort();
    const { sub, pid } = await startReaped('2-fork-per-connection', [`--port=${port}`]);
    await until('the banner', () => sub.out().includes(`Listening on: 127.0.0.1:${port}\n`));
    expect(await askLine(port, 'eq')).toBe('SERVED BY Node: eq\n');
    process.kill(pid, 'SIGTERM');
    expect(await exitOf(sub)).toEqual({ code: 0, signal: null });
  });
});
