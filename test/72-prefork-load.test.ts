/**
 * Nothing lost: a load generator keeps connections going (the line
 * protocol, one connection per request, or HTTP) while the master adds and
 * removes workers, replaces them all (HUP), re-executes itself (USR2) and
 * the old master stops, and stops gracefully (QUIT). Every connection the
 * kernel accepted must get its reply; after QUIT, connections are refused,
 * never reset. A worker killed with SIGKILL loses at most what it held.
 * Loads are small (16 connections at a time, bounded in count and time).
 */
import * as net from 'node:net';
import { Load, type Master, app, isAlive, until, useMasters } from './prefork-helpers.ts';

const start = useMasters();
const loads: Load[] = [];
const extraPids: number[] = [];
const load = (port: number, args: string[] = []): Load => {
  const l = new Load(port, ['--concurrency', '16', '--max', '40000', '--seconds', '90', ...args]);
  loads.push(l);
  return l;
};
afterEach(async () => {
  for (const l of loads.splice(0)) l.kill();
  for (const pid of extraPids.splice(0))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
});

/** A master of the echo app with 2 workers, ready, and a load generator running against it. */
async function echoUnderLoad(env?: NodeJS.ProcessEnv): Promise<[Master, Load]> {
  const m = start(['serve', app('echo'), '--listen', '127.0.0.1:0', '--workers', '2'], { env });
  const port = await m.port();
  await m.waitFor(/ready: 2 workers/);
  return [m, load(port)];
}

const clean = { refused: 0, lost: 0, bad: 0, other: 0 };

/**
 * QUIT, then: `ended` (a connection the stop must close) within 4.5 s, and
 * the master's exit 0 without a worker cut off at gracefulTimeout.
 */
async function quitEnds(m: Master, ended: Promise<void>): Promise<void> {
  const quitAt = Date.now();
  m.signal('SIGQUIT');
  await ended;
  expect(Date.now() - quitAt).toBeLessThan(4500);
  expect((await m.exited).code).toBe(0);
  expect(m.out).not.toMatch(/did not stop in time/);
}

test('TTIN, TTOU and HUP under load lose nothing', async () => {
  const [m, l] = await echoUnderLoad();
  await l.more(300);
  m.signal('SIGTTIN');
  await m.waitFor(/ready in/, 3);
  await l.more(300);
  m.signal('SIGTTOU');
  await m.waitFor(/exited \(exit status 0\)/, 1);
  await l.more(300);
  m.signal('SIGHUP');
  await m.waitFor(/exited \(exit status 0\)/, 3); // the two old workers, replaced
  await l.more(300);
  const counts = await l.stop();
  expect(counts).toMatchObject(clean);
  expect(counts.ok).toBeGreaterThanOrEqual(1200);
  expect(m.out).toMatch(/generation 1$/m);
});

test('USR2 under load: a new master on the same socket, the old one stopped with QUIT, nothing lost', async () => {
  const [m, l] = await echoUnderLoad();
  await l.more(300);
  m.signal('SIGUSR2');
  const [[, newPid]] = await m.waitFor(/re-exec: new master (\d+) started/);
  extraPids.push(Number(newPid));
  await m.waitFor(
    new RegExp(`\\[prefork ${newPid}\\] ready: 2 workers accepting; the old master ${m.pid} may be stopped`),
  );
  const port = await m.port();
  expect(m.out).toMatch(
    new RegExp(`\\[prefork ${newPid}\\] master started: listening on 127.0.0.1:${port} \\(fd \\d+\\)`),
  );
  await l.more(300);
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
  await l.more(300);
  const counts = await l.stop();
  expect(counts).toMatchObject(clean);
  // The new master serves alone; QUIT stops it too.
  process.kill(Number(newPid), 'SIGQUIT');
  await until(() => !isAlive(Number(newPid)), 20000, 'the new master to stop');
  expect(m.workerPids().filter(isAlive)).toEqual([]);
});

test('QUIT under HTTP load: every accepted connection answered, then refused, never reset', async () => {
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '2']);
  const port = await m.port();
  await m.waitFor(/ready: 2 workers/);
  const l = load(port, ['--http']);
  await l.more(500);
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
  const counts = await l.stop();
  expect(counts).toMatchObject({ lost: 0, bad: 0, other: 0 });
  expect(counts.ok).toBeGreaterThanOrEqual(500);
});

test('keep-alive HTTP load through TTOU, HUP, maxRequests recycling and QUIT: no request sent is left unanswered', async () => {
  // Each connection sends its next request as soon as a response ends, so a
  // stopping worker that closed a connection it thought idle would close it
  // under a request the client had sent.
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '3', '--max-requests', '1000']);
  const port = await m.port();
  await m.waitFor(/ready: 3 workers/);
  const l = load(port, ['--keep-alive']);
  await l.more(1000);
  m.signal('SIGTTOU');
  await m.waitFor(/exited \(exit status 0\)/, 1);
  await l.more(1000);
  m.signal('SIGHUP');
  await m.waitFor(/generation 1$/m, 2);
  await m.waitFor(/served \d+ requests \(maxRequests 1000\), recycling/, 2);
  await l.more(1000);
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
  const counts = await l.stop();
  expect(counts).toMatchObject({ lost: 0, bad: 0, other: 0 });
  expect(counts.ok).toBeGreaterThanOrEqual(3000);
});

test('a worker killed with SIGKILL under load loses only the connections it held', async () => {
  const [m, l] = await echoUnderLoad({ PREFORK_ECHO_DELAY_MS: '20' });
  await l.more(200);
  const [victim] = m.workerPids();
  process.kill(victim, 'SIGKILL');
  await m.waitFor(new RegExp(`\\(pid ${victim}\\) exited \\(killed by SIGKILL\\)`));
  await m.waitFor(/ready in/, 3);
  await l.more(200);
  const counts = await l.stop();
  // At most the 16 connections in flight can have been in the victim's hands.
  expect(counts.lost).toBeLessThanOrEqual(16);
  expect(counts).toMatchObject({ refused: 0, bad: 0, other: 0 });
  expect(counts.ok + counts.lost).toBe(counts.started);
});

test('QUIT ends an idle keep-alive connection within about a second, and the master exits long before gracefulTimeout', async () => {
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '1', '--graceful-timeout', '120']);
  const port = await m.port();
  await m.waitFor(/ready: 1 workers/);
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (d) => (text += d));
  const ended = new Promise<void>((resolve) => sock.on('end', () => resolve()));
  sock.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'); // keep-alive, the HTTP/1.1 default
  await until(() => /ok \d+/.test(text), 10000, 'the first response');
  expect(text).toMatch(/keep-alive/i);
  // Left alone, node:http would end it after its keepAliveTimeout (5 s); the
  // graceful stop ends it once it read nothing for 0.5 s. The bound is that
  // timeout, not a speed.
  await quitEnds(m, ended);
  sock.destroy();
});

test('QUIT ends a connection that never sent a request (a preconnect) within about a second', async () => {
  const m = start(['serve', app('hang'), '--listen', '127.0.0.1:0', '--workers', '1', '--graceful-timeout', '120']);
  const port = await m.port();
  await m.waitFor(/ready: 1 workers/);
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.on('connect', () => resolve()));
  const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.on('error', () => undefined);
  // Let the worker take it before the stop.
  await new Promise((r) => setTimeout(r, 200));
  await quitEnds(m, ended);
});

test('a worker told to stop while its afterFork hook runs serves nothing and exits without waiting for gracefulTimeout', async () => {
  const m = start([
    'serve',
    app('slow-start'),
    '--listen',
    '127.0.0.1:0',
    '--workers',
    '1',
    '--graceful-timeout',
    '120',
  ]);
  await m.waitFor(/spawned/);
  await m.waitFor(/slow-start: loading/);
  const quitAt = Date.now();
  m.signal('SIGQUIT');
  expect((await m.exited).code).toBe(0);
  expect(Date.now() - quitAt).toBeLessThan(20000);
  expect(m.out).toMatch(/slow-start: loaded/);
  expect(m.out).not.toMatch(/did not stop in time/);
});
