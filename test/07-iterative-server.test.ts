/**
 * Lesson 1 as a user runs it: the compiled iterative server as a real
 * process on a free port, several clients one after another, its output,
 * and SIGTERM ending it.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { askBytes, askLine, freePort, killWatched, root, until, waitForPort, watch, type Watched } from './helpers.ts';

const script = path.join(root, 'dist', 'examples', '1-iterative-server.js');

function start(args: string[], env: NodeJS.ProcessEnv = {}): Watched {
  return watch(
    spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

afterEach(killWatched);

/** Waits until the server printed its first line (listen(2) comes before it, so a connect may win the race). */
async function listening(server: Watched, timeoutMs = 15000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (!server.out().includes('\n')) {
    if (Date.now() > end || server.child.exitCode !== null) throw new Error(`no banner; stderr: ${server.err()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return server.out();
}

async function stop(server: Watched): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  const r = await server.exited;
  clearTimeout(timer);
  return r;
}

test('serves clients one after another, then SIGTERM ends it', async () => {
  const port = await freePort();
  const server = start(['--port', String(port), '--host', '127.0.0.1']);
  const { child, err: stderr } = server;
  try {
    expect(await listening(server)).toBe(`Listening on: 127.0.0.1:${port}\n`);
    await waitForPort(port);
    for (const word of ['hi', 'hello there', 'third time', 'ünïcode']) {
      expect(await askLine(port, word)).toBe(`SERVED BY Node: ${word}\n`);
    }
    // A client that sends its line in pieces, with CRLF.
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      s.on('connect', () => {
        s.write('in ');
        setTimeout(() => s.write('pieces\r\n'), 50);
      });
      s.on('data', (d) => (data += d));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(reply).toBe('SERVED BY Node: in pieces\n');
    // A client that hangs up without a word does not stop the server.
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end());
      s.on('close', () => resolve());
      s.resume();
    });
    expect(await askLine(port, 'still here')).toBe('SERVED BY Node: still here\n');
    // Bytes that are not UTF-8 come back as they were, not as U+FFFD.
    const raw = Buffer.from([0x72, 0x80, 0xfe, 0xff, 0xc3, 0x28]);
    const echoed = await askBytes(port, Buffer.concat([raw, Buffer.from('\n')]));
    expect(echoed.toString('hex')).toBe(
      Buffer.concat([Buffer.from('SERVED BY Node: '), raw, Buffer.from('\n')]).toString('hex'),
    );
    // Anything on stderr is a per-client complaint, never a crash.
    for (const line of stderr().split('\n').filter(Boolean)) expect(line).toMatch(/^client error: /);
  } finally {
    const r = await stop(server);
    // Default action of SIGTERM: the process is gone, killed by the signal.
    expect(r).toEqual({ code: null, signal: 'SIGTERM' });
  }
  expect(() => process.kill(child.pid as number, 0)).toThrow();
});

test('PORT from the environment, and a taken port is a clear error', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    const { err: stderr, exited: closed } = start(['--host', '127.0.0.1'], { PORT: String(taken) });
    const r = await closed;
    expect(r.code).not.toBe(0);
    expect(stderr()).toContain(`bind EADDRINUSE: address already in use 127.0.0.1:${taken}`);
    expect(stderr()).toContain('AddressInUseError');
  } finally {
    blocker.close();
  }
  // And a free one from the environment works.
  const port = await freePort();
  const server = start(['--host', '127.0.0.1'], { PORT: String(port) });
  try {
    expect(await listening(server)).toBe(`Listening on: 127.0.0.1:${port}\n`);
    await waitForPort(port);
    expect(await askLine(port, 'env')).toBe('SERVED BY Node: env\n');
  } finally {
    expect(await stop(server)).toEqual({ code: null, signal: 'SIGTERM' });
  }
});

test('a bad --port is refused with a message', async () => {
  const { err: stderr, exited: closed } = start(['--port', 'eighty']);
  const r = await closed;
  expect(r.code).toBe(2);
  expect(stderr()).toContain("--port wants a whole number from 0 to 65535, got 'eighty'");
});

test('a client that trickles its line without end is cut off after --timeout, and the client behind it is served', async () => {
  const port = await freePort();
  const server = start(['--port', String(port), '--host', '127.0.0.1', '--timeout', '1']);
  await listening(server);
  await waitForPort(port);
  // One byte every 200 ms and never a newline: every recv(2) gets something,
  // so only a bound on the whole line ends this client's turn.
  const trickler = net.connect(port, '127.0.0.1');
  let hungUp = false;
  trickler.on('close', () => (hungUp = true));
  trickler.on('error', () => {});
  trickler.resume();
  const drip = setInterval(() => trickler.writable && trickler.write('x'), 200);
  try {
    await new Promise<void>((resolve) => trickler.on('connect', () => resolve()));
    // The server takes connections in order: this one waits behind the trickler.
    expect(await askLine(port, 'behind', 10000)).toBe('SERVED BY Node: behind\n');
    await until('the trickler hung up on', () => hungUp);
  } finally {
    clearInterval(drip);
    trickler.destroy();
  }
  expect(server.err()).toMatch(/^client error: .*(ETIMEDOUT|timed out)/im);
  expect(await stop(server)).toEqual({ code: null, signal: 'SIGTERM' });
});
