/**
 * The promise waitpid (a pidfd on the event loop for one pid, SIGCHLD for
 * any child) and signals while promises
 * wait, run in a forking fixture: the loop stays free, any-child waits see
 * children forked meanwhile, child_process children are never reaped, the
 * blocking and promise forms share the forked-children table, abort and
 * timeout leave the child waitable, a handled signal runs its handler from
 * the loop without ending an async accept, and no fd is left behind.
 */
import { runFixture } from './helpers.ts';

let lines: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  const r = await runFixture('async-wait', { timeoutMs: 60000 });
  lines = {};
  for (const l of r.stdout.trim().split('\n').filter(Boolean)) {
    const o = JSON.parse(l);
    lines[o.check] = o;
  }
  if (r.code !== 0 || lines.crash) throw new Error(`fixture failed: ${r.stdout}\n${r.stderr}`);
});

test('waitpid(pid) resolves with the exit code while a 10 ms timer keeps firing', () => {
  expect(lines.one).toMatchObject({ pid: true, kind: 'exited', code: 7, left: [] });
  expect(lines.one.ticks as number).toBeGreaterThanOrEqual(10);
});

test("waitpid(-1) reaps only this package's children; a spawned child keeps its exit event", () => {
  expect(lines.any).toMatchObject({ codes: [1, 2, 3], spawnCode: 3, left: [] });
});

test('waitpid(-1) sees a child forked after the call started', () => {
  expect(lines.later).toMatchObject({ pid: true, code: 9, long: 'SIGKILL' });
});

test('the blocking form reaping first makes the promise reject with ECHILD; the table stays right', () => {
  expect(lines.mixed).toMatchObject({ blockingCode: 4, err: { name: 'ChildProcessError', code: 'ECHILD' }, left: [] });
});

test('abort and timeout leave the child waitable', () => {
  expect(lines.abort).toMatchObject({
    abort: { name: 'AbortError', code: 'ABORT_ERR' },
    timeout: { name: 'TimeoutError', code: 'ETIMEDOUT' },
    kind: 'signaled',
    signal: 'SIGTERM',
  });
});

test('a child_process child is refused with ECHILD and still exits to Node', () => {
  expect(lines.foreign).toMatchObject({
    err: { name: 'ChildProcessError', code: 'ECHILD' },
    nohang: { name: 'ChildProcessError', code: 'ECHILD' },
    code: 5,
  });
});

test('a handled signal runs from the loop while an async accept waits, and does not end it', () => {
  expect(lines.signal).toEqual({ check: 'signal', handledWhileWaiting: 1, settledEarly: false });
});

test('waitpid(-1) waits for SIGCHLD: no pidfd, a blocking call is not interrupted, a user handler still runs', () => {
  expect(lines.sigchld).toMatchObject({
    pidfdsWhileWaiting: 0,
    sleepErr: null,
    code: 6,
    first: true,
    second: 'SIGTERM',
    third: 'SIGKILL',
    left: [],
  });
  expect(lines.sigchld.slept as number).toBeGreaterThanOrEqual(380);
  expect(lines.sigchld.handled as number).toBeGreaterThanOrEqual(1);
});

test('a child forked while its parent waits for any child ends by itself; the wait is not its own', () => {
  expect(lines.forkedWhileWaiting).toMatchObject({ pid: true, code: 12 });
});

test('a wait for any child keeps the event loop alive until the child exits', () => {
  expect(lines.alive).toMatchObject({ pid: true, code: 8 });
});

test('no pidfd or watch is left behind', () => {
  expect(lines.end.oursAfter).toBe(lines.end.oursBefore);
  expect(lines.end.fdsAfter as number).toBeLessThanOrEqual((lines.end.fdsBefore as number) + 2);
  expect(lines.end.watches).toEqual({ fds: 0, watches: 0, active: 0 });
});
