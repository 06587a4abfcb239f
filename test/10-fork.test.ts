/**
 * fork(), _exit(), waitpid()/wait(), kill() and every way out of a forked
 * child. All forking happens in subprocess fixtures.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { root, runFixture, type RunResult } from './helpers.ts';

// Observations are loosely typed JSON from the fixture.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obs = Record<string, any>;

function json(r: RunResult): Obs {
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  if (!line) throw new Error(`no output; code ${r.code} signal ${r.signal}\n${r.stderr}`);
  return JSON.parse(line);
}

describe('fork, waitpid, wait, kill', () => {
  let out: Obs;
  beforeAll(async () => {
    const r = await runFixture('fork-basics', { timeoutMs: 60000 });
    expect(r.code).toBe(0);
    out = json(r);
  });

  test('fork returns the child pid in the parent and 0 in the child', () => {
    expect(out.returned).toBeGreaterThan(0);
    expect(out.child).toEqual({ ret: 0, pid: out.returned, ppid: out.parentPid });
    expect(out.returnStatus).toMatchObject({ pid: out.returned, kind: 'exited', code: 0 });
  });

  test('WNOHANG with nothing to report: pid 0, kind running (bit and option)', () => {
    expect(out.nohangBit).toMatchObject({ pid: 0, kind: 'running' });
    expect(out.nohangObj).toMatchObject({ pid: 0, kind: 'running' });
    expect(out.nohangAfter).toMatchObject({ pid: 0, kind: 'running' });
    expect(out.nohangBit.code).toBeUndefined();
  });

  test('WUNTRACED reports a stopped child, WCONTINUED a continued one (bits and options)', () => {
    for (const k of ['stoppedBit', 'stoppedObj']) {
      expect(out[k]).toMatchObject({ kind: 'stopped', signal: 'SIGSTOP', signalNumber: 19 });
      expect(out[k].pid).toBeGreaterThan(0);
    }
    expect(out.continuedBit).toMatchObject({ kind: 'continued', pid: out.stoppedBit.pid });
    expect(out.continuedObj).toMatchObject({ kind: 'continued', pid: out.stoppedBit.pid });
  });

  test('kill by name and by number; signaled statuses are decoded', () => {
    expect(out.killZero).toEqual({ threw: false });
    expect(out.terminated).toMatchObject({ kind: 'signaled', signal: 'SIGTERM', signalNumber: 15, coreDumped: false });
    expect(out.terminated.code).toBeUndefined();
    expect(out.killed9).toMatchObject({ kind: 'signaled', signal: 'SIGKILL', coreDumped: false });
  });

  test('wait() collects any child with its exit code', () => {
    expect(out.waited).toMatchObject({ pid: out.c3, kind: 'exited', code: 9 });
    expect(out.waited.status).toBe(9 << 8);
  });

  test('ECHILD is a ChildProcessError; ESRCH a ProcessLookupError', () => {
    for (const k of ['reapedAgain', 'waitNone', 'nohangNone'])
      expect(out[k]).toMatchObject({
        threw: true,
        name: 'ChildProcessError',
        isChildProcessError: true,
        code: 'ECHILD',
        syscall: 'waitpid',
      });
    expect(out.killGone).toMatchObject({ threw: true, isProcessLookupError: true, code: 'ESRCH' });
  });

  test('waitpid, kill and _exit check their arguments before any call', () => {
    expect(out.badArgs).toEqual([
      'TypeError',
      'RangeError',
      'RangeError',
      'TypeError',
      'RangeError',
      'RangeError',
      'RangeError',
      'RangeError',
    ]);
  });

  test('constants', () => {
    // Linux values; the test process itself never loads the addon.
    expect(out.constants).toEqual({ WNOHANG: 1, WUNTRACED: 2, WCONTINUED: 8 });
  });
});

describe('fork from a worker thread', () => {
  test('is refused with a clear error, and the main thread still forks', async () => {
    const r = await runFixture('fork-worker', { timeoutMs: 30000 });
    expect(r.code).toBe(0);
    const o = json(r);
    for (const k of ['publicFork', 'nativeFork']) {
      expect(o.fromWorker[k].threw).toBe(true);
      expect(o.fromWorker[k].message).toMatch(/main thread.*not a worker thread/);
    }
    expect(o.mainAfter).toEqual({ kind: 'exited', code: 3 });
  });
});

describe('fork without --single-threaded', () => {
  test('is refused at once with a clear error and no child, unless allowThreads opts in', async () => {
    const r = await runFixture('fork-warning', { noSingleThreaded: true, timeoutMs: 60000 });
    expect(r.code).toBe(0);
    const o = json(r);
    expect(o.execArgv).not.toContain('--single-threaded');
    expect(o.refusal).toMatchObject({ name: 'NotSingleThreadedError', code: 'WTF_NOT_SINGLE_THREADED', isClass: true });
    expect(o.refusal.message).toMatch(/--single-threaded/);
    expect(o.refusal.message).toMatch(/execSingleThreaded\(\)/);
    expect(o.refusal.message).toMatch(/allowThreads/);
    expect(o.childrenAfterRefusal).toBe(0);
    expect(o.statuses).toEqual(['exited 0', 'exited 0', 'exited 0']);
    expect(o.warnings).toEqual([]);
  });

  test('with the flag: forks, no refusal, no warning', async () => {
    const r = await runFixture('fork-warning', { timeoutMs: 60000 });
    const o = json(r);
    expect(o.execArgv).toContain('--single-threaded');
    expect(o.refusal).toBeNull();
    expect(o.statuses).toEqual(['exited 0', 'exited 0', 'exited 0']);
    expect(o.warnings).toEqual([]);
  });

  test('execSingleThreaded() says why when node runs code it cannot run again', () => {
    const lib = JSON.stringify(path.join(root, 'dist', 'lib'));
    const code = `require(${lib}).execSingleThreaded(); console.log('went on')`;
    for (const args of [['-e', code], ['-p', code], ['-']]) {
      const r = spawnSync(process.execPath, args, {
        input: args[0] === '-' ? code : '',
        encoding: 'utf8',
        timeout: 30000,
      });
      expect(r.status).not.toBe(0);
      expect(r.stdout).not.toContain('went on');
      expect(r.stderr).toMatch(/execSingleThreaded\(\) cannot restart this program/);
    }
  });
});

// Each way out, run in a plain node process and in a forked child: the
// parent of the child must see exactly the status node itself gives.
// Every row has three entries: with fewer, jest would pass `done` as the third.
const scenarios: [string, number, RegExp | null][] = [
  ['exit-n', 9, null],
  ['exit-n-later', 11, null],
  ['_exit', 5, null],
  ['exit-code-dry', 4, null],
  ['dry-timers', 0, null],
  ['dry-fs', 0, null],
  ['dry-net', 0, null],
  ['dry-all', 0, null],
  ['dry-heavy', 0, null],
  ['dry-async-heavy', 0, null],
  ['before-exit', 43, null],
  ['exit-listener-code', 21, null],
  ['uncaught-sync', 1, /Error: uncaught-sync-boom\n\s+at /],
  ['uncaught-later', 1, /Error: uncaught-later-boom\n\s+at /],
  ['uncaught-exit-listener', 17, /Error: uncaught-exit-listener-boom\n\s+at /],
  ['uncaught-handled', 3, null],
  ['rejection', 1, /Error: rejection-boom\n\s+at /],
  ['heavy-then-throw', 1, /Error: heavy-then-throw-boom\n\s+at /],
];

describe('a forked child leaves with the status node would give', () => {
  test.each(scenarios)('%s -> %i', async (name, code, stderrPattern) => {
    const [plain, forked] = await Promise.all([
      runFixture('fork-exits', { args: [name, 'plain'], timeoutMs: 60000 }),
      runFixture('fork-exits', { args: [name, 'forked'], timeoutMs: 90000 }),
    ]);
    expect(plain.code).toBe(code);
    expect(forked.code).toBe(0);
    const o = json(forked);
    expect(o.status).toBe(`exited ${code}`);
    expect(forked.stdout).not.toMatch(/leftover/);
    if (stderrPattern) {
      expect(plain.stderr).toMatch(stderrPattern);
      expect(forked.stderr).toMatch(stderrPattern);
      expect(forked.stderr).toMatch(/Node\.js v\d+/);
    } else {
      expect(forked.stderr).toBe('');
    }
  });
});

describe("the first fork's preparation", () => {
  test('happens at a later fork when a signal is pending, leaves no fd and no trace line, never runs a handler, and children still serve', async () => {
    const r = await runFixture('fork-first');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.handledDuringFirstFork).toBe(0);
    expect(o.rehearsalsAfterFirstFork).toBe(0);
    expect(o.handledAfterWait).toBe(1);
    expect(o.rehearsalsAfterSecondFork).toBe(1);
    expect(o).toMatchObject({
      heldCall: 'InterruptedError',
      handledWhileHeld: 0,
      heldThenRecv: 'data',
      handledAfterRelease: 1,
    });
    // Only the fork itself: the socketpair round trip is not traced.
    expect(o.traceOfSecondFork).toEqual([expect.stringMatching(/^fork\(\) = [1-9]\d*$/)]);
    expect(o.fdsUnchanged).toBe(true);
    expect(o).toMatchObject({ reply: 'child read: ping', child: 'exited', fdsAtEnd: true });
  });
});
