/**
 * examples/forking-server.js as a real process: its banner, one exact reply,
 * a burst of connections from 16 concurrent clients while another process
 * pelts it with SIGCHLD, and afterwards no zombie and no leaked fd; then the
 * shutdown paths (SIGTERM to the server, SIGINT to its process group as a
 * terminal's Ctrl-C would) while children are still lingering or still
 * reading, each of which must finish its reply before the server exits 0.
 *
 * WTF_LOAD_CONNECTIONS sets the size of the burst (default 1000, scaled by
 * WTF_LOAD_SCALE: see loadSize).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import {
  askLine,
  childrenOf,
  exitOf,
  fdCount,
  freePort,
  loadSize,
  killWatched,
  sleepMs,
  startExample,
  until,
  zombiesOf,
  type Watched,
  isAlive,
} from './helpers.ts';

const CONNECTIONS = Number(process.env.WTF_LOAD_CONNECTIONS ?? loadSize(1000, 100));
const CONCURRENCY = 16;

async function startServer(port: number, args: string[], group = false): Promise<Watched> {
  const r = startExample('forking-server', ['--port', String(port), ...args], { group });
  await until(`"Listening on" from ${r.pid}:\n${r.out()}${r.err()}`, () =>
    r.out().includes(`Listening on: 127.0.0.1:${port}\n`),
  );
  return r;
}

/** The pids the server reported reaping, in order. */
function reaped(out: string): number[] {
  return [...out.matchAll(/^Worker (\d+) is shutting down$/gm)].map((m) => Number(m[1]));
}

/**
 * Sends SIGCHLD storms from a separate process (bash's builtin kill, so each
 * signal is one kill(2) and no fork) until `stop()` says so: at most `storms`
 * storms of `perStorm` signals each. Resolves with the number of signals the
 * storms reported sent.
 */
async function sigchldStorms(pid: number, stop: () => boolean, storms: number, perStorm: number): Promise<number> {
  let sent = 0;
  for (let i = 0; i < storms && !stop(); i++) {
    const script = `n=0; for ((i=0;i<${perStorm};i++)); do kill -CHLD ${pid} 2>/dev/null || break; n=$((n+1)); done; echo $n`;
    const storm = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    storm.stdout.on('data', (d) => (out += d));
    await new Promise<void>((resolve) => storm.on('close', () => resolve()));
    sent += Number(out.trim()) || 0;
    await sleepMs(20);
  }
  return sent;
}

/** Polls an async `check` until it returns true, or fails after `ms`. */
async function untilAsync(what: string, check: () => Promise<boolean>, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleepMs(25);
  }
}

/** Connects and hangs up at once; resolves with 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/**
 * Opens a connection and, only when told, sends a line; resolves with
 * everything received up to end of stream.
 */
function openLater(port: number): { connected: Promise<void>; send: (line: string) => void; reply: Promise<string> } {
  const s = net.connect(port, '127.0.0.1');
  let data = '';
  const connected = new Promise<void>((resolve) => s.once('connect', () => resolve()));
  const reply = new Promise<string>((resolve, reject) => {
    s.setTimeout(20000, () => s.destroy(new Error('no reply within 20 s')));
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  return { connected, send: (line) => s.write(`${line}\n`), reply };
}

afterEach(killWatched);

describe('forking-server --linger 0 under load', () => {
  test(`one exact reply, then ${CONNECTIONS} connections from ${CONCURRENCY} clients through SIGCHLD storms: no error, no zombie, no leaked fd`, async () => {
    const port = await freePort();
    const server = await startServer(port, ['--linger', '0']);
    // Right after the banner, before any connection: the server keeps no fd
    // of its own between connections, so this count holds afterwards too.
    const fdsAtStart = fdCount(server.pid);

    expect(await askLine(port, 'hello')).toBe('SERVED BY Node: hello\n');
    // That child has gone (linger 0) and been reaped: the baseline state.
    await until(
      'the first child reaped',
      () => reaped(server.out()).length === 1 && childrenOf(server.pid).length === 0,
    );
    const fdsBefore = fdCount(server.pid);

    const client = startExample(
      'tools/client',
      [
        '--port',
        String(port),
        '--connections',
        String(CONNECTIONS),
        '--concurrency',
        String(CONCURRENCY),
        '--timeout',
        '100',
      ],
      { singleThreaded: false },
    );
    let clientDone = false;
    const clientExit = client.exited.then(({ code }) => {
      clientDone = true;
      return code;
    });

    const signalsSent = await sigchldStorms(server.pid, () => clientDone, 40, 500);
    const clientCode = await clientExit;

    expect({ code: clientCode, err: client.err() }).toEqual({ code: 0, err: '' });
    expect(client.out()).toMatch(new RegExp(`^ok=${CONNECTIONS} errors=0 `));
    expect(signalsSent).toBeGreaterThan(0);
    expect(isAlive(server.pid)).toBe(true);

    // Every connection had a child, and every child was reaped by the handler.
    await until(
      `${CONNECTIONS + 1} children reaped (got ${reaped(server.out()).length})`,
      () => reaped(server.out()).length === CONNECTIONS + 1,
      30000,
    );
    expect(new Set(reaped(server.out())).size).toBe(CONNECTIONS + 1);
    expect(childrenOf(server.pid)).toEqual([]);
    expect(zombiesOf(server.pid)).toEqual([]);
    expect(fdCount(server.pid)).toBe(fdsBefore);
    expect(fdsBefore).toBe(fdsAtStart);
    // Still serving after all that.
    expect(await askLine(port, 'after')).toBe('SERVED BY Node: after\n');
    expect(server.err()).toBe('');

    server.child.kill('SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(server.out()).toContain(`Quitting process ${server.pid}\n`);
  });
});

describe('forking-server with the default 3 s linger: clean shutdown', () => {
  /**
   * Three clients get their replies (their children then linger), a fourth
   * has connected but not yet sent its line when the signal comes. The
   * server must stop accepting, keep waiting for all four children, and the
   * fourth must still get its reply.
   */
  async function shutdownWhileChildrenLinger(how: 'SIGTERM' | 'SIGINT'): Promise<void> {
    const port = await freePort();
    const server = await startServer(port, [], how === 'SIGINT');

    const answered = await Promise.all(['a', 'b', 'c'].map((l) => askLine(port, `${how} ${l}`)));
    expect(answered).toEqual(['a', 'b', 'c'].map((l) => `SERVED BY Node: ${how} ${l}\n`));
    const late = openLater(port);
    await late.connected;
    const kids = await until('four children alive', () => {
      const c = childrenOf(server.pid);
      return c.length === 4 && c;
    });

    if (how === 'SIGTERM') process.kill(server.pid, 'SIGTERM');
    // Ctrl-C: the whole process group, children included (they ignore it).
    else process.kill(-server.pid, 'SIGINT');
    await until('"Quitting process"', () => server.out().includes(`Quitting process ${server.pid}\n`));

    // The listener is closed right after that line: new clients are refused.
    await untilAsync('the port to refuse connections', async () => (await tryConnect(port)) === 'ECONNREFUSED');

    // The server waits for its lingering workers instead of leaving them.
    await sleepMs(300);
    expect(isAlive(server.pid)).toBe(true);
    expect(kids.every(isAlive)).toBe(true);

    late.send(`${how} late`);
    expect(await late.reply).toBe(`SERVED BY Node: ${how} late\n`);
    const repliedAt = Date.now();

    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    // It left only after the last child's linger (3 s after its reply).
    expect(Date.now() - repliedAt).toBeGreaterThan(2000);
    // Every child was reaped. A probe of the wait for ECONNREFUSED above may
    // have completed its handshake before the filter went on: the drain
    // serves it too, with a child of its own, reaped as well.
    const gone = reaped(server.out());
    expect(gone).toEqual(expect.arrayContaining(kids));
    expect(gone.length).toBeLessThanOrEqual(kids.length + 20);
    expect([...kids, ...gone].filter(isAlive)).toEqual([]);
    expect(server.err()).toBe('');
  }

  test('SIGTERM: stops accepting, every child finishes its reply, exit 0, no child left', async () => {
    await shutdownWhileChildrenLinger('SIGTERM');
  });

  test('SIGINT to the process group: the same', async () => {
    await shutdownWhileChildrenLinger('SIGINT');
  });
});

describe('forking-server: a silent client and the port it reports', () => {
  test('a client that never sends its line gets an ERROR line after --timeout, and does not hold a SIGTERM shutdown', async () => {
    const port = await freePort();
    const server = await startServer(port, ['--linger', '0', '--timeout', '0.5']);
    const silent = openLater(port);
    await silent.connected;
    const started = Date.now();
    // The child gives up on its own: a TimeoutError, said to the client.
    expect(await silent.reply).toMatch(/^ERROR: .*ETIMEDOUT|^ERROR: .*timed out/i);
    expect(Date.now() - started).toBeLessThan(5000);
    const kid = await until('the child reaped', () => reaped(server.out())[0]);
    expect(kid).toBeGreaterThan(0);
    // A second silent client, then SIGTERM: the server exits once the
    // child's timeout has passed instead of waiting for ever.
    const second = openLater(port);
    await second.connected;
    await until('its child', () => childrenOf(server.pid).length === 1);
    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server, 10000)).toEqual({ code: 0, signal: null });
    expect(await second.reply).toMatch(/^ERROR: /);
    expect(server.err()).toBe('');
  });

  test('--port 0: the kernel picks the port, and the banner shows that one', async () => {
    const server = startExample('forking-server', ['--port', '0', '--linger', '0']);
    const port = Number(await until('the banner', () => /^Listening on: 127\.0\.0\.1:(\d+)$/m.exec(server.out())?.[1]));
    expect(port).toBeGreaterThan(0);
    expect(await askLine(port, 'zero')).toBe('SERVED BY Node: zero\n');
    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  });

  test('--host: 127.0.0.1 unless told; IPv6 and every interface on request; anything else refused', async () => {
    for (const [host, banner] of [
      ['::1', /^Listening on: ::1:(\d+)$/m],
      ['0.0.0.0', /^Listening on: 0\.0\.0\.0:(\d+)$/m],
    ] as const) {
      const server = startExample('forking-server', ['--port', '0', '--linger', '0', '--host', host]);
      const port = Number(await until('the banner', () => banner.exec(server.out())?.[1]));
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.connect({ port, host: host === '::1' ? '::1' : '127.0.0.1' }, () => c.end('v6 or all\n'));
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
      expect(answer).toBe('SERVED BY Node: v6 or all\n');
      process.kill(server.pid, 'SIGTERM');
      expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    }
    const bad = startExample('forking-server', ['--host', 'localhost']);
    expect(await exitOf(bad)).toEqual({ code: 2, signal: null });
    expect(bad.err()).toMatch(/--host wants an IPv4 or IPv6 address, got 'localhost'/);
  });
});

describe('forking-server: a child compiles nothing', () => {
  // V8 compiles a function when it first runs. What only children run would
  // be compiled in every child, and a child that compiles at all faults in
  // the compiler's code (docs/performance.md): the server rehearses a
  // child's work before its first fork. V8's function log (written by the
  // server and, through the same fd, by its children) shows every compile.
  // The parent may still meet a path of its own for the first time (a
  // signal that arrives while JavaScript runs, say), once; what a child
  // compiles, each child compiles again.
  test('no function is compiled again in each child while the server serves connections', async () => {
    const log = path.join(os.tmpdir(), `wtf-function-events-${process.pid}.log`);
    fs.rmSync(log, { force: true });
    try {
      const port = await freePort();
      const r = startExample('forking-server', ['--port', String(port), '--linger', '0'], {
        nodeFlags: ['--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate'],
      });
      await until('the banner', () => r.out().includes(`Listening on: 127.0.0.1:${port}\n`));
      expect(await askLine(port, 'first')).toBe('SERVED BY Node: first\n');
      await until('the first child reaped', () => reaped(r.out()).length === 1 && childrenOf(r.pid).length === 0);
      await sleepMs(200);
      const mark = fs.statSync(log).size;
      const lines = ['second', 'third', 'fourth', 'fifth'];
      for (const line of lines) expect(await askLine(port, line)).toBe(`SERVED BY Node: ${line}\n`);
      await until(
        'every child reaped',
        () => reaped(r.out()).length === 1 + lines.length && childrenOf(r.pid).length === 0,
      );
      const text = fs.readFileSync(log, 'utf8');
      const scripts = new Map([...text.matchAll(/^script-details,(\d+),([^,]*)/gm)].map((m) => [m[1], m[2]]));
      const runs = new Map<string, number>();
      for (const l of text.slice(mark).split('\n')) {
        // 'interpreter': V8 made a function's bytecode (its compile; Node 24's
        // V8 logs 'first-execution' again for code it already compiled).
        if (!l.startsWith('function,interpreter,')) continue;
        const f = l.split(',');
        const name = `${f.at(-1) || '(anonymous)'} in ${scripts.get(f[2]) ?? `script ${f[2]}`} at ${f[3]}`;
        runs.set(name, (runs.get(name) ?? 0) + 1);
      }
      expect([...runs].filter(([, n]) => n > 1)).toEqual([]);
      // The children do write to the log: each one's pid lookup, exit, ... are
      // there as code events; the window is not empty.
      expect(text.length).toBeGreaterThan(mark);
      process.kill(r.pid, 'SIGTERM');
      expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    } finally {
      fs.rmSync(log, { force: true });
    }
  });
});
