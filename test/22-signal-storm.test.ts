/**
 * The blog's forking server under signals: a child's exit interrupts the
 * blocked accept (InterruptedError, after the SIGCHLD reaper ran) and the
 * loop goes on; SIGTERM and SIGINT handlers close the listener and the
 * process exits cleanly; and a storm of 10,000 signals from another process
 * during 5,000 or more connections (until the sender is done) loses no
 * connection and leaves no zombie.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { askLine, collect, loadSize, refused, startFixture, zombiesOf, type RunResult } from './helpers.ts';

interface Server {
  port: number;
  pid: number;
  done: Promise<RunResult>;
}

async function startServer(): Promise<Server> {
  const child = startFixture('sig-server');
  const done = collect(child, { timeoutMs: 300000 });
  const first = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]);
    });
    child.on('exit', () => reject(new Error('server exited before listening')));
  });
  const { port, pid } = JSON.parse(first);
  return { port, pid, done };
}

function stats(r: RunResult): Record<string, unknown> {
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the blog pattern: a child exits, accept throws InterruptedError, the loop serves the next one', async () => {
  const srv = await startServer();
  for (let i = 0; i < 5; i++) {
    expect(await askLine(srv.port, `hello ${i}`)).toBe(`SERVED: hello ${i}\n`);
    // Let the child exit while the server blocks in accept.
    await pause(150);
    expect(zombiesOf(srv.pid)).toEqual([]);
  }
  process.kill(srv.pid, 'SIGTERM');
  const r = await srv.done;
  expect(r.code).toBe(0);
  const s = stats(r);
  expect(s).toMatchObject({ stoppedBy: 'SIGTERM', served: 5, reaped: 5, otherErrors: [] });
  // Each child's SIGCHLD found the server in accept.
  expect(s.interrupted).toBeGreaterThanOrEqual(5);
  expect(s.chldHandled).toBeGreaterThanOrEqual(5);
}, 60000);

test.each(['SIGTERM', 'SIGINT'] as const)(
  '%s closes the listener and the server exits cleanly',
  async (sig) => {
    const srv = await startServer();
    expect(await askLine(srv.port, 'one')).toBe('SERVED: one\n');
    process.kill(srv.pid, sig);
    const r = await srv.done;
    expect(r.code).toBe(0);
    expect(r.signal).toBeNull();
    expect(stats(r)).toMatchObject({ stoppedBy: sig, served: 1 });
    expect(await refused(srv.port)).toBe(true);
  },
  60000,
);

// The size of the storm: full once in CI, smaller where the suite repeats
// (WTF_LOAD_SCALE, see loadSize).
const CONNECTIONS = loadSize(5000, 100);
const SIGNALS = loadSize(10000, 200);
// Clients go on past CONNECTIONS until the sender is done, so that on a fast
// machine too every signal lands while connections are being served; bounded
// by this count and by time.
const MAX_CONNECTIONS = 50000;

test(`storm: ${SIGNALS} signals during ${CONNECTIONS} connections or more`, async () => {
  const srv = await startServer();
  const start = Date.now();
  const sender = spawn(
    process.execPath,
    [
      path.join(__dirname, '..', 'dist', 'test', 'fixtures', 'sig-sender.js'),
      String(srv.pid),
      String(SIGNALS),
      'SIGUSR1,SIGCHLD',
      '10',
      '10',
      '200000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let senderEnd = Infinity;
  const senderDone = collect(sender, { timeoutMs: 240000 }).then((r) => {
    senderEnd = Date.now();
    return r;
  });
  let next = 0;
  let ok = 0;
  const bad: string[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while ((next < CONNECTIONS || senderEnd === Infinity) && next < MAX_CONNECTIONS && Date.now() - start < 240000) {
        const i = next++;
        try {
          const reply = await askLine(srv.port, `m${i}`, 20000);
          if (reply === `SERVED: m${i}\n`) ok++;
          else bad.push(`${i}: ${JSON.stringify(reply)}`);
        } catch (err) {
          bad.push(`${i}: ${String(err)}`);
        }
      }
    }),
  );
  const clientsEnd = Date.now();
  const sent = JSON.parse((await senderDone).stdout.trim() || '{}');
  const elapsed = clientsEnd - start;
  // Let the last children exit and be reaped while the server blocks.
  await pause(500);
  const zombies = zombiesOf(srv.pid);
  process.kill(srv.pid, 'SIGTERM');
  const r = await srv.done;
  const s = stats(r);
  expect(bad.slice(0, 5)).toEqual([]);
  expect(ok).toBe(next);
  expect(ok).toBeGreaterThanOrEqual(CONNECTIONS);
  expect(sent).toMatchObject({ sent: SIGNALS, gone: false });
  // Every signal was sent while connections were still being served.
  expect(senderEnd).toBeLessThanOrEqual(clientsEnd);
  expect(zombies).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.stderr).not.toMatch(/Debugger listening|Error/);
  expect(s).toMatchObject({ stoppedBy: 'SIGTERM', served: ok, reaped: ok, otherErrors: [] });
  expect(s.interrupted).toBeGreaterThan(0);
  expect(s.usr1Handled).toBeGreaterThan(0);
  expect(elapsed).toBeLessThan(240000);
}, 300000);
