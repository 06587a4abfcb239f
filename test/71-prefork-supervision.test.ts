/**
 * What the master does about workers that misbehave, and about its own
 * death: crash-loop backoff and giving up, the heartbeat timeout,
 * maxRequests recycling, workers that stop when the master is killed with
 * SIGKILL, and listening sockets handed over by systemd or as an fd.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { askLine } from './helpers.ts';
import { BIN, app, isAlive, until, useMasters } from './prefork-helpers.ts';
import { accept, attachDropFilter, bind, close, getsockname, listen, socket } from '../lib/index.ts';

const start = useMasters();

test('a crash loop backs off exponentially, one start at a time, and gives up with status 1', async () => {
  const m = start([
    'serve',
    app('crash'),
    ...['--listen', '127.0.0.1:0', '--workers', '3'],
    ...['--backoff', '0.05', '--backoff-max', '0.4', '--max-failed-starts', '7'],
  ]);
  const { code } = await m.exited;
  expect(code).toBe(1);
  expect(m.out).toMatch(/giving up: 7 workers in a row died within 1 s of starting/);
  expect(m.out).toMatch(/failed to start: Error: this app cannot start/);
  // Not a fork bomb: the first 3 starts, then one per failure until the limit.
  const spawned = m.workerPids().length;
  expect(spawned).toBeGreaterThanOrEqual(7);
  expect(spawned).toBeLessThanOrEqual(7 + 2);
  // The delays double up to the cap.
  const delays = [...m.out.matchAll(/next start in ([\d.]+) s/g)].map((x) => Number(x[1]));
  expect(delays).toEqual([0.05, 0.1, 0.2, 0.4, 0.4, 0.4]);
  expect(m.workerPids().filter(isAlive)).toEqual([]);
});

test('a HUP whose new workers cannot start is abandoned: the old generation keeps serving; a later HUP with the app fixed reloads', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-reload-'));
  const appFile = path.join(dir, 'app.js');
  const version = (v: string): void =>
    fs.writeFileSync(appFile, `module.exports = (req, res) => res.end('${v} ' + process.pid);\n`);
  const get = (port: number): Promise<string> =>
    new Promise((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d)).on('end', () => resolve(b));
        })
        .on('error', reject),
    );
  try {
    version('v1');
    const m = start([
      'serve',
      appFile,
      ...['--no-preload', '--listen', '127.0.0.1:0', '--workers', '2'],
      ...['--backoff', '0.05', '--max-failed-starts', '3'],
    ]);
    const port = await m.port();
    await m.waitFor(/ready: 2 workers/);
    const old = m.workerPids();
    fs.writeFileSync(appFile, "throw new Error('this version cannot start');\n");
    m.signal('SIGHUP');
    await m.waitFor(
      /reload abandoned: 3 workers of generation 1 in a row died within 1 s of starting; generation 0 keeps serving/,
    );
    expect(m.out).toMatch(/this version cannot start/);
    expect(m.out).not.toMatch(/giving up/);
    expect(old.filter(isAlive)).toEqual(old);
    for (let i = 0; i < 4; i++) expect(await get(port)).toMatch(new RegExp(`^v1 (${old.join('|')})$`));
    version('v2');
    m.signal('SIGHUP');
    await m.waitFor(/reload: starting generation 2/);
    await until(() => old.every((p) => !isAlive(p)), 20000, 'the old workers to be replaced');
    expect(await get(port)).toMatch(/^v2 \d+$/);
    m.signal('SIGQUIT');
    expect((await m.exited).code).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker whose heartbeat stops is killed with SIGKILL and replaced', async () => {
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '1', '--timeout', '1']);
  const port = await m.port();
  await m.waitFor(/ready: 1 workers/);
  const [hung] = m.workerPids();
  const req = http.get({ host: '127.0.0.1', port, path: '/hang', agent: false });
  req.on('error', () => undefined);
  await m.waitFor(new RegExp(`\\(pid ${hung}\\) timed out: no heartbeat for [\\d.]+ s, killed \\(SIGKILL\\)`));
  await m.waitFor(new RegExp(`\\(pid ${hung}\\) exited \\(killed by SIGKILL\\)`));
  await m.waitFor(/ready in/, 2);
  const body = await new Promise<string>((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d)).on('end', () => resolve(b));
      })
      .on('error', reject),
  );
  expect(body).toMatch(/^ok \d+/);
  expect(Number(/ok (\d+)/.exec(body)?.[1])).not.toBe(hung);
  req.destroy();
});

test('maxRequests with jitter: each worker serves its limit (10 to 15), is replaced, and no request fails', async () => {
  const m = start([
    'serve',
    app('echo'),
    ...['--listen', '127.0.0.1:0', '--workers', '2', '--max-requests', '10', '--max-requests-jitter', '5'],
  ]);
  const port = await m.port();
  await m.waitFor(/ready: 2 workers/);
  for (let i = 0; i < 100; i++) expect(await askLine(port, `r${i}`)).toBe(`SERVED BY Node: r${i}\n`);
  const recycled = [...m.out.matchAll(/served (\d+) requests \(maxRequests (\d+)\), recycling/g)];
  expect(recycled.length).toBeGreaterThanOrEqual(100 / 15 - 2);
  for (const [, served, limit] of recycled) {
    expect(Number(served)).toBe(Number(limit));
    expect(Number(limit)).toBeGreaterThanOrEqual(10);
    expect(Number(limit)).toBeLessThanOrEqual(15);
  }
  // A recycled worker is not a failed start.
  expect(m.out).not.toMatch(/died at start/);
});

test('the master killed with SIGKILL: every worker finishes what it holds, exits, and the port is freed', async () => {
  const m = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--workers', '2'], {
    env: { PREFORK_ECHO_DELAY_MS: '400' },
  });
  const port = await m.port();
  await m.waitFor(/ready: 2 workers/);
  const workers = m.workerPids();
  // Four requests in the workers' hands, then the master dies.
  const held = [0, 1, 2, 3].map((i) => askLine(port, `held ${i}`));
  await new Promise((r) => setTimeout(r, 150));
  process.kill(m.pid, 'SIGKILL');
  expect((await Promise.all(held)).sort()).toEqual([0, 1, 2, 3].map((i) => `SERVED BY Node: held ${i}\n`));
  await until(() => workers.every((p) => !isAlive(p)), 20000, 'the workers to exit');
  const refused = await new Promise<string>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => resolve('connected'));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  expect(refused).toBe('ECONNREFUSED');
});

/** A listening TCP socket made here, to hand to a master as fd 3. */
function listeningFd(): { fd: number; port: number } {
  const fd = socket('AF_INET', 'SOCK_STREAM');
  bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
  listen(fd, 64);
  const a = getsockname(fd);
  return { fd, port: a.family === 'AF_INET' ? a.port : -1 };
}

test('systemd socket activation: LISTEN_FDS=1 and LISTEN_PID of the master, the socket on fd 3', async () => {
  const { fd, port } = listeningFd();
  // As systemd does: the variables name the process that will run, which
  // a shell knows as $$ before it execs node (execSingleThreaded keeps the pid).
  const script = `export LISTEN_PID=$$ LISTEN_FDS=1; exec "${process.execPath}" "$0" serve "$1" --workers 2`;
  const m = start([BIN, app('echo')], { command: ['/bin/sh', '-c', script], stdio: ['ignore', 'pipe', 'pipe', fd] });
  close(fd);
  await m.waitFor(/ready: 2 workers/);
  expect(m.out).toMatch(new RegExp(`listening on 127.0.0.1:${port} \\(fd 3\\)`));
  expect(await askLine(port, 'activated')).toBe('SERVED BY Node: activated\n');
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
});

test('LISTEN_PID of another process is not ours: the master refuses systemd mode; --listen fd:3 takes the fd as is', async () => {
  const { fd, port } = listeningFd();
  const wrong = start(['serve', app('echo'), '--listen', 'systemd'], {
    env: { LISTEN_PID: '1', LISTEN_FDS: '1' },
    stdio: ['ignore', 'pipe', 'pipe', fd],
  });
  expect((await wrong.exited).code).toBe(1);
  expect(wrong.out).toMatch(/LISTEN_FDS\/LISTEN_PID name no fd of this process/);
  const m = start(['serve', app('echo'), '--listen', 'fd:3', '--workers', '1'], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
  });
  close(fd);
  await m.waitFor(/ready: 1 workers/);
  expect(await askLine(port, 'fd three')).toBe('SERVED BY Node: fd three\n');
  m.signal('SIGTERM');
  expect((await m.exited).code).toBe(0);
});

test('attachDropFilter: what is queued stays acceptable; no new handshake completes', async () => {
  const { fd, port } = listeningFd();
  try {
    const early = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => early.once('connect', resolve));
    attachDropFilter(fd);
    const late = net.connect(port, '127.0.0.1');
    late.on('error', () => undefined);
    const outcome = await new Promise<string>((resolve) => {
      late.once('connect', () => resolve('connected'));
      setTimeout(() => resolve('no handshake'), 700);
    });
    expect(outcome).toBe('no handshake');
    const queued = accept(fd, { timeoutMs: 2000 });
    expect(queued.address).toMatchObject({ family: 'AF_INET', address: '127.0.0.1', port: early.localPort });
    close(queued.fd);
    early.destroy();
    late.destroy();
  } finally {
    close(fd);
  }
});
