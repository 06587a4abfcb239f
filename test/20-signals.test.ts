/**
 * signal()/sigaction(): argument checks, and the four moments a JavaScript
 * handler runs (before an interrupted call throws, from the idle event loop,
 * its exception out of the interrupted call, a pending signal before the
 * next call waits). Everything that sends signals runs in a fixture.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { root, runFixture } from './helpers.ts';
import { setInterruptPolicy, sigaction, signal, signalNumber } from '../lib/index.ts';

async function runCase(mode: string, timeoutMs = 20000): Promise<Record<string, unknown>> {
  const r = await runFixture('sig-cases', { args: [mode], timeoutMs });
  if (r.code !== 0) throw new Error(`sig-cases ${mode} exited ${r.code} ${r.signal}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { ...JSON.parse(line), stderr: r.stderr };
}

describe('argument checks (nothing is installed)', () => {
  test('signals by name or number', () => {
    expect(signalNumber('SIGCHLD')).toBe(17);
    expect(signalNumber(15)).toBe(15);
    expect(() => signalNumber('SIGNOPE')).toThrow(RangeError);
    expect(() => signalNumber(0)).toThrow(RangeError);
    expect(() => signalNumber(65)).toThrow(RangeError);
    expect(() => signalNumber(null as unknown as string)).toThrow(TypeError);
  });

  test('SIGKILL, SIGSTOP and fault signals are refused', () => {
    expect(() => signal('SIGKILL', () => {})).toThrow(/cannot be caught/);
    expect(() => signal(19, 'ignore')).toThrow(/cannot be caught/);
    expect(() => signal('SIGSEGV', () => {})).toThrow(/cannot be handled/);
  });

  test('handler and options are checked', () => {
    expect(() => signal('SIGUSR2', 'nope' as never)).toThrow(TypeError);
    expect(() => sigaction('SIGUSR2', () => {}, { restart: 1 as never })).toThrow(TypeError);
    expect(() => setInterruptPolicy('sometimes' as never)).toThrow(RangeError);
  });
});

describe('an interrupted blocking call: the handler runs first, then InterruptedError', () => {
  test.each(['accept', 'recv', 'waitpid', 'sleep'])('%s', async (call) => {
    const r = await runCase(`eintr-${call}`);
    expect(r.events).toEqual(['handler:SIGUSR1', 'threw:InterruptedError:EINTR']);
    // The sender fires after 200 ms; the call did not wait for anything else.
    expect(r.elapsed).toBeGreaterThanOrEqual(150);
    expect(r.elapsed).toBeLessThan(3000);
  });
});

test("a handler's exception comes out of the interrupted call", async () => {
  const r = await runCase('throwing-handler');
  expect(r.result).toMatchObject({ name: 'Error', message: 'boom from the handler' });
});

test('a signal that arrived while JavaScript ran is handled before the next call waits', async () => {
  const r = await runCase('pending-first');
  // The handler wrote what recv read: recv returned at once, not after 3 s.
  expect(r.events).toEqual(['before-recv', 'handler']);
  expect(r.got).toBe('from-handler');
  expect(r.elapsed).toBeLessThan(1000);
});

test('while idle in the event loop, handlers run from the loop', async () => {
  const r = await runCase('idle-loop');
  const seen = r.seen as { at: number; inBlockingCall: boolean; count: number }[];
  // Every signal counted; a loop held up past a sender tick (a slow,
  // loaded machine) runs the handler once for two, told so by its count.
  expect(seen.reduce((n, s) => n + s.count, 0)).toBe(3);
  // From the loop as the signals came, not from the blocking call at the end.
  for (const s of seen) expect(s.inBlockingCall).toBe(false);
});

test('signals caught before the handler runs: one run, told how many were caught', async () => {
  const r = await runCase('counted');
  expect(r.before).toBe(0);
  expect(r.runs).toEqual([['SIGUSR1', 10, 5]]);
});

test('oneShot: the first delivery interrupts, then the previous disposition is back', async () => {
  const r = await runCase('one-shot');
  expect(r.handled).toBe(1);
  expect(r.first).toBe('InterruptedError');
  // Ignored afterwards: the accept ran to its timeout.
  expect(r.second).toMatchObject({ name: 'TimeoutError', timedOut: true });
});

test('a signal with two names is called by the one kill -l and strace use: SIGABRT (not SIGIOT), SIGIO (not SIGPOLL)', () => {
  const lib = path.join(root, 'dist', 'lib', 'index.js');
  const r = spawnSync(
    process.execPath,
    [
      '--single-threaded',
      '-e',
      `const w = require(${JSON.stringify(lib)});
      const names = [];
      for (const sig of ['SIGABRT', 'SIGIO']) w.signal(sig, (name) => names.push(name));
      process.kill(process.pid, 'SIGABRT');
      process.kill(process.pid, 'SIGIO');
      w.runPendingSignalHandlers();
      const pid = w.fork();
      if (pid === 0) { w.signal('SIGABRT', 'default'); process.kill(process.pid, 'SIGABRT'); w._exit(0); }
      console.log(JSON.stringify({ names, child: w.waitpid(pid).signal }));`,
    ],
    { encoding: 'utf8', timeout: 20000 },
  );
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ names: ['SIGABRT', 'SIGIO'], child: 'SIGABRT' });
});
