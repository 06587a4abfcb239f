/**
 * Living with Node: process.on('SIGINT') listeners in every order with this
 * package's handler, Node's SIGUSR1 (inspector) handler replaced,
 * child_process still told of its children's exits while a SIGCHLD reaper
 * runs (and the reaper surviving libuv's SIGCHLD reset), and what
 * waitpid(-1) does to child_process's children.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { root, runFixture } from './helpers.ts';

async function runCase(mode: string): Promise<{ out: Record<string, unknown>; stderr: string }> {
  const r = await runFixture('sig-node', { args: [mode], timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`sig-node ${mode} exited ${r.code} ${r.signal}: ${r.stdout} ${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim().split('\n').pop() ?? ''), stderr: r.stderr };
}

test('SIGINT: process.on listeners and our handler, installed and restored in every order', async () => {
  const { out } = await runCase('sigint-orders');
  const steps = Object.fromEntries(
    (out.steps as { step: string; node: number; ours: number; disposition: string }[]).map((s) => [s.step, s]),
  );
  // Node first, then ours: both fire.
  expect(steps['node-then-ours']).toMatchObject({ node: 1, ours: 1 });
  // 'default' gives the signal back to Node's listener alone.
  expect(steps['ours-default-node-again']).toMatchObject({ node: 2, ours: 1 });
  // Ours first, then Node's, fired before any turn of the loop: both.
  expect(steps['ours-then-node']).toMatchObject({ node: 3, ours: 2 });
  // Node's last listener removed (libuv puts SIG_DFL): ours stays, the process lives.
  expect(steps['node-removed-ours-stays']).toMatchObject({ node: 3, ours: 3, disposition: 'caught' });
  expect(steps['node-added-again']).toMatchObject({ node: 4, ours: 4 });
  // 'ignore' is SIG_IGN for everyone, as in C.
  expect(steps['ignored']).toMatchObject({ node: 4, ours: 4, disposition: 'ignored' });
  // and 'default' after it brings Node's listener back.
  expect(steps['default-after-ignore']).toMatchObject({ node: 5, ours: 4, disposition: 'caught' });
});

test("SIGUSR1 handled here does not start Node's inspector", async () => {
  const { out, stderr } = await runCase('sigusr1');
  expect(out.handled).toBe(1);
  expect(stderr).not.toMatch(/Debugger listening/);
});

test('child_process and a reapChildren() SIGCHLD handler coexist', async () => {
  const { out } = await runCase('child-process');
  const phase1 = out.phase1 as { spawnExit: number; exec: { stdout: string }; reaped: number[][]; ourPids: number[] };
  expect(phase1.spawnExit).toBe(7);
  expect(phase1.exec.stdout).toBe('hi\n');
  expect(phase1.reaped).toEqual(phase1.ourPids.map((p, i) => [p, i + 1]).sort());
  // After libuv reset SIGCHLD (its last child gone), ours is back...
  expect(out.afterReset).toBe('caught');
  // ...and still reaps our children, idle or blocked in accept.
  expect(out.idleReaped).toBe(4);
  expect(out.acceptEnded).toBe('InterruptedError');
  expect(out.blockedReaped).toBe(5);
  expect(out.spawnAgain).toBe(9);
  expect(out.lastReaped).toBe(6);
  expect(out.zombies).toEqual([]);
  expect(out.left).toBe(0);
});

test("waitpid(-1) in a handler reaps child_process's children: Node never sees their exit", async () => {
  const { out } = await runCase('waitpid-all');
  expect(out.reaped).toEqual([out.childPid]);
  expect(out.exitFired).toBe(false);
});

test('a handler that throws while the event loop idles is an uncaught exception, as a throw from any callback: never an abort', () => {
  const lib = path.join(root, 'dist', 'lib', 'index.js');
  const run = (listen: boolean) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `const w = require(${JSON.stringify(lib)});
        ${listen ? "process.on('uncaughtException', (e) => { console.log('caught ' + e.message); process.exit(3); });" : ''}
        w.signal('SIGUSR2', () => { throw new Error('thrown by the handler'); });
        setTimeout(() => process.kill(process.pid, 'SIGUSR2'), 20);
        setTimeout(() => console.log('not reached'), 5000);`,
      ],
      { encoding: 'utf8', timeout: 20000 },
    );
  // An 'uncaughtException' listener gets it.
  const heard = run(true);
  expect({ status: heard.status, signal: heard.signal, out: heard.stdout }).toEqual({
    status: 3,
    signal: null,
    out: 'caught thrown by the handler\n',
  });
  // Without one, Node prints it and exits 1.
  const died = run(false);
  expect({ status: died.status, signal: died.signal }).toEqual({ status: 1, signal: null });
  expect(died.stderr).toMatch(/Error: thrown by the handler/);
  expect(died.stderr).not.toMatch(/terminate called/);
  expect(died.stdout).not.toMatch(/not reached/);
});
