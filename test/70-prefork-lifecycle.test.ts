/**
 * The prefork master's lifecycle, through the command and the library:
 * http and echo apps, the hooks, TTIN/TTOU/HUP/WINCH/USR1, the status
 * socket, QUIT and TERM, preload on and off, and each kind of listener
 * (TCP v4 and v6, a UNIX path, SO_REUSEPORT). Every master runs in a
 * subprocess and is killed by pid at the end, with its workers.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { childrenOf, askLine, fixturePath } from './helpers.ts';
import { bind, close, socket } from '../lib/index.ts';
import { type Master, app, isAlive, until, useMasters } from './prefork-helpers.ts';

const start = useMasters();

function get(port: number, urlPath = '/', host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const workersOf = (m: Master): number[] => childrenOf(m.pid);

/** Connects (to a UNIX path or host:port), sends `line` if given, and resolves with every byte of the reply, to EOF. */
function ask(to: net.NetConnectOpts, line?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const c = net.connect(to, () => {
      if (line !== undefined) c.write(`${line}\n`);
    });
    c.on('data', (d) => (text += d))
      .on('end', () => resolve(text))
      .on('error', reject);
  });
}

test('http app: serves from the workers; hooks run where they belong; TTIN, TTOU, HUP, WINCH, USR1, status socket, QUIT', async () => {
  const statusPath = path.join(os.tmpdir(), `wtf-status-${process.pid}.sock`);
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '2', '--status-socket', statusPath]);
  const port = await m.port();
  await m.waitFor(/ready: 2 workers accepting/);
  const first = workersOf(m).sort();
  expect(first).toHaveLength(2);
  const body = await get(port);
  expect(first).toContain(Number(/ok (\d+)/.exec(body)?.[1]));
  // beforeFork ran in the master, afterFork in each worker.
  expect(m.out).toContain(`hook beforeFork worker 0 in ${m.pid}`);
  for (const pid of first) expect(m.out).toMatch(new RegExp(`hook afterFork worker \\d in ${pid}`));

  m.signal('SIGTTIN');
  await m.waitFor(/\(pid \d+\) ready in/, 3);
  await until(() => workersOf(m).length === 3, 10000, 'three workers');

  m.signal('SIGTTOU');
  await m.waitFor(/exited \(exit status 0\)/, 1);
  await until(() => workersOf(m).length === 2, 10000, 'two workers');
  await m.waitFor(new RegExp(`hook workerExit worker \\d+ exited in ${m.pid}`));

  // HUP: every worker replaced by a new generation, gracefully.
  const before = workersOf(m).sort();
  m.signal('SIGHUP');
  await m.waitFor(/generation 1$/m, 2);
  await until(
    () => {
      const now = workersOf(m);
      return now.length === 2 && now.every((p) => !before.includes(p));
    },
    15000,
    'the old workers replaced',
  );
  expect(await get(port)).toMatch(/^ok \d+/);

  // The worker table, on USR1 and from the status socket.
  m.signal('SIGUSR1');
  await m.waitFor(/status: worker \d pid \d+ gen 1 ready requests \d+ started \S+ rss \d+ pss \d+ private \d+/, 2);
  const table = await ask({ path: statusPath });
  const status = JSON.parse(table) as { master: number; workers: { pid: number; requests: number; pss: number }[] };
  expect(status.master).toBe(m.pid);
  expect(status.workers.map((w) => w.pid).sort()).toEqual(workersOf(m).sort());
  for (const w of status.workers) expect(w.pss).toBeGreaterThan(0);

  // WINCH: no workers, the master stays; TTIN brings one back.
  m.signal('SIGWINCH');
  await until(() => workersOf(m).length === 0, 15000, 'no workers');
  expect(isAlive(m.pid)).toBe(true);
  m.signal('SIGTTIN');
  await until(() => workersOf(m).length === 1, 10000, 'one worker');
  await m.waitFor(/ready in/, 6);
  expect(await get(port)).toMatch(/^ok \d+/);

  m.signal('SIGQUIT');
  expect(await m.exited).toEqual({ code: 0, signal: null });
  expect(m.out).toMatch(/master stopped, exit status 0/);
  expect(m.workerPids().filter(isAlive)).toEqual([]);
  expect(fs.existsSync(statusPath)).toBe(false);
});

test('echo worker function, not preloaded: serves the line protocol; TERM stops everything at once', async () => {
  const m = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--workers', '2', '--no-preload']);
  const port = await m.port();
  expect(m.out).toMatch(/not preloaded, 2 workers/);
  await m.waitFor(/ready: 2 workers/);
  for (let i = 0; i < 5; i++) expect(await askLine(port, `hi ${i}`)).toBe(`SERVED BY Node: hi ${i}\n`);
  m.signal('SIGTERM');
  expect(await m.exited).toEqual({ code: 0, signal: null });
  expect(m.out).toMatch(/quick stop of 2 workers/);
  expect(m.workerPids().filter(isAlive)).toEqual([]);
});

test('HUP without preload loads the changed app; with preload the master keeps the app it imported', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-reload-'));
  const file = path.join(dir, 'app.js');
  try {
    const write = (v: string): void => fs.writeFileSync(file, `module.exports = (req, res) => res.end('${v}');\n`);
    write('v1');
    const m = start(['serve', file, '--listen', '127.0.0.1:0', '--workers', '1', '--no-preload']);
    const p = start(['serve', file, '--listen', '127.0.0.1:0', '--workers', '1']);
    const [port, pport] = [await m.port(), await p.port()];
    await m.waitFor(/ready: 1 workers/);
    await p.waitFor(/ready: 1 workers/);
    expect([await get(port), await get(pport)]).toEqual(['v1', 'v1']);
    write('v2');
    m.signal('SIGHUP');
    p.signal('SIGHUP');
    await m.waitFor(/exited \(exit status 0\)/);
    await p.waitFor(/exited \(exit status 0\)/);
    expect([await get(port), await get(pport)]).toEqual(['v2', 'v1']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ES modules: a default request listener, and a worker function exported by the name worker', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-esm-'));
  try {
    fs.writeFileSync(path.join(dir, 'http.mjs'), "export default (req, res) => res.end('esm http');\n");
    fs.writeFileSync(
      path.join(dir, 'worker.mjs'),
      [
        "import * as net from 'node:net';",
        "export function worker(ctx) { ctx.serve(net.createServer((c) => c.end('esm worker ' + ctx.id + '\\n'))); }",
        "export function afterFork(ctx) { process.stdout.write('esm afterFork ' + ctx.id + '\\n'); }",
        '',
      ].join('\n'),
    );
    const h = start(['serve', path.join(dir, 'http.mjs'), '--listen', '127.0.0.1:0', '--workers', '1']);
    const w = start(['serve', path.join(dir, 'worker.mjs'), '--listen', '127.0.0.1:0', '--workers', '1']);
    const [hport, wport] = [await h.port(), await w.port()];
    await h.waitFor(/ready: 1 workers/);
    await w.waitFor(/ready: 1 workers/);
    expect(h.out).toMatch(/http app, preloaded/);
    expect(w.out).toMatch(/worker function, preloaded/);
    await w.waitFor(/esm afterFork 0/);
    expect(await get(hport)).toBe('esm http');
    expect(await askLine(wport, 'x')).toBe('esm worker 0\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the library face: PreforkServer with an app function and hooks as options', async () => {
  const m = start(['127.0.0.1:0', '2'], {
    command: [process.execPath, '--single-threaded', fixturePath('prefork-apps/lib-user')],
  });
  const port = await m.port();
  await m.waitFor(/ready: 2 workers/);
  await m.waitFor(/afterFork [01]/, 2);
  expect(await get(port)).toMatch(/^lib \d+/);
  m.signal('SIGINT');
  expect(await m.exited).toEqual({ code: 0, signal: null });
});

test('listeners: a UNIX path and IPv6 together, then SO_REUSEPORT with one socket per worker', async () => {
  const sock = path.join(os.tmpdir(), `wtf-prefork-${process.pid}.sock`);
  const m = start(['serve', app('echo'), '--listen', sock, '--listen', '[::1]:0', '--workers', '2']);
  const [line] = await m.waitFor(/listening on (\S+) \(fd \d+\), \[::1\]:(\d+) \(fd/);
  expect(line[1]).toBe(sock);
  await m.waitFor(/ready: 2 workers/);
  expect(await ask({ path: sock }, 'six')).toBe('SERVED BY Node: six\n');
  expect(await ask({ host: '::1', port: Number(line[2]) }, 'six')).toBe('SERVED BY Node: six\n');
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
  expect(fs.existsSync(sock)).toBe(false); // the master removed its socket file

  const r = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--workers', '2', '--reuse-port']);
  const port = await r.port();
  await r.waitFor(/ready: 2 workers/);
  const served = new Set<string>();
  for (let i = 0; i < 20; i++) served.add(await askLine(port, 'rp'));
  expect([...served]).toEqual(['SERVED BY Node: rp\n']);
  // Each worker listens on a socket of its own: two LISTEN sockets on the
  // port in /proc/net/tcp (state 0A); the master's is bound, not listening.
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const listening = fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((l) => l.trim().split(/\s+/)[1] === `0100007F:${hexPort}` && l.trim().split(/\s+/)[3] === '0A');
  expect(listening).toHaveLength(2);
  r.signal('SIGQUIT');
  expect((await r.exited).code).toBe(0);
});

test('UNIX paths: a stale socket file is replaced; a live server, or a file that is no socket, is never taken over', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-paths-'));
  const listenPath = path.join(dir, 'l.sock');
  const statusPath = path.join(dir, 's.sock');
  const askStatus = async (p: string): Promise<{ master: number }> =>
    JSON.parse(await ask({ path: p })) as { master: number };
  const askPath = (p: string, line: string): Promise<string> => ask({ path: p }, line);
  let newMaster = 0;
  try {
    // A socket file whose server died (bound, never unlinked): removed, then bound again.
    const stale = socket('AF_UNIX', 'SOCK_STREAM');
    bind(stale, { family: 'AF_UNIX', path: listenPath });
    close(stale);
    expect(fs.lstatSync(listenPath).isSocket()).toBe(true);
    const a = start(['serve', app('echo'), '--listen', listenPath, '--status-socket', statusPath, '--workers', '1']);
    await a.waitFor(/ready: 1 workers/);
    expect(await askPath(listenPath, 'one')).toBe('SERVED BY Node: one\n');

    // A second master on the live listening path, or on the live status
    // socket, fails with bind's EADDRINUSE and removes nothing.
    const onListen = start(['serve', app('echo'), '--listen', listenPath, '--workers', '1']);
    expect((await onListen.exited).code).toBe(1);
    expect(onListen.out).toContain(`AddressInUseError: bind EADDRINUSE: address already in use ${listenPath}`);
    const onStatus = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--status-socket', statusPath]);
    expect((await onStatus.exited).code).toBe(1);
    expect(onStatus.out).toContain(`bind EADDRINUSE: address already in use ${statusPath}`);
    expect(await askPath(listenPath, 'two')).toBe('SERVED BY Node: two\n');
    // Clients of the status socket that hang up before the answer (as the
    // second master's probe did) end nothing.
    await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<void>((resolve) => {
            const c = net.connect(statusPath, () => c.destroy());
            c.on('close', () => resolve());
          }),
      ),
    );
    expect((await askStatus(statusPath)).master).toBe(a.pid);

    // A regular file at the status path is left as it was.
    const notSocket = path.join(dir, 'notes.txt');
    fs.writeFileSync(notSocket, 'keep me\n');
    const onFile = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--status-socket', notSocket]);
    expect((await onFile.exited).code).toBe(1);
    expect(fs.readFileSync(notSocket, 'utf8')).toBe('keep me\n');

    // USR2: the new master takes the status socket over, and the old one,
    // stopped, leaves both paths to it; the new one removes them at its stop.
    a.signal('SIGUSR2');
    const [[, newPid]] = await a.waitFor(/re-exec: new master (\d+) started/);
    newMaster = Number(newPid);
    await a.waitFor(new RegExp(`\\[prefork ${newPid}\\] ready: 1 workers accepting`));
    a.signal('SIGQUIT');
    expect((await a.exited).code).toBe(0);
    expect((await askStatus(statusPath)).master).toBe(Number(newPid));
    expect(await askPath(listenPath, 'three')).toBe('SERVED BY Node: three\n');
    process.kill(Number(newPid), 'SIGQUIT');
    await until(() => !isAlive(Number(newPid)), 20000, 'the new master to stop');
    expect(fs.existsSync(listenPath)).toBe(false);
    expect(fs.existsSync(statusPath)).toBe(false);
  } finally {
    if (newMaster && isAlive(newMaster)) process.kill(newMaster, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a rolled-back USR2 (the new master stopped first) leaves the old master its UNIX path and status socket', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-rollback-'));
  const listenPath = path.join(dir, 'l.sock');
  const statusPath = path.join(dir, 's.sock');
  let newMaster = 0;
  try {
    const a = start(['serve', app('echo'), '--listen', listenPath, '--status-socket', statusPath, '--workers', '1']);
    await a.waitFor(/ready: 1 workers/);
    a.signal('SIGUSR2');
    const [[, newPid]] = await a.waitFor(/re-exec: new master (\d+) started/);
    newMaster = Number(newPid);
    await a.waitFor(new RegExp(`\\[prefork ${newPid}\\] ready: 1 workers accepting`));
    process.kill(newMaster, 'SIGQUIT');
    await a.waitFor(new RegExp(`new master ${newPid} exited \\(exit status 0\\)`));
    expect(await ask({ path: listenPath }, 'back')).toBe('SERVED BY Node: back\n');
    expect((JSON.parse(await ask({ path: statusPath })) as { master: number }).master).toBe(a.pid);
    a.signal('SIGQUIT');
    expect((await a.exited).code).toBe(0);
    expect(fs.existsSync(listenPath)).toBe(false);
    expect(fs.existsSync(statusPath)).toBe(false);
  } finally {
    if (newMaster && isAlive(newMaster)) process.kill(newMaster, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a worker's connections are made as node:http makes them: TCP_NODELAY, half-open", async () => {
  const m = start(['serve', app('conn-options'), '--listen', '127.0.0.1:0', '--workers', '1']);
  const port = await m.port();
  await m.waitFor(/ready: 1 workers/);
  expect(JSON.parse(await get(port))).toEqual({ nodelay: true, allowHalfOpen: true });
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
});

test("node:http's headersTimeout holds in a worker: a client that stalls mid-headers gets 408 and is closed", async () => {
  const m = start(['serve', app('timeouts'), '--listen', '127.0.0.1:0', '--workers', '1']);
  const port = await m.port();
  await m.waitFor(/ready: 1 workers/);
  expect(await get(port)).toMatch(/^ok \d+/);
  const started = Date.now();
  const reply = await new Promise<string>((resolve, reject) => {
    let text = '';
    const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    c.setTimeout(10000, () => c.destroy(new Error('still open after 10 s')));
    c.on('data', (d) => (text += d))
      .on('close', () => resolve(text))
      .on('error', reject);
  });
  expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  expect(Date.now() - started).toBeLessThan(5000);
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
});
