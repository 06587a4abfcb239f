/**
 * No flag to remember: a forking example started as plain `node x.js`
 * execve(2)s itself with --single-threaded (same pid) before it does
 * anything, and forks without the warning. Also execve's own errors.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execve, PosixError } from '../lib/index.ts';
import { askLine, collect, freePort, root } from './helpers.ts';

test('forking-server.js run without the flag restarts itself with it, keeps its pid, and serves', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [
    path.join(root, 'dist/examples/forking-server.js'),
    '--port',
    String(port),
    '--linger',
    '0',
  ]);
  const done = collect(child, { timeoutMs: 60000 });
  try {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const end = Date.now() + 20000;
    while (!out.includes('Listening on:') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain(`Listening on: 127.0.0.1:${port}`);
    // The same process (pid), now with the flag on its command line.
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('--single-threaded');
    expect(await askLine(port, 'plain node')).toBe('SERVED BY Node: plain node\n');
  } finally {
    child.kill('SIGTERM');
  }
  const r = await done;
  expect(r.code).toBe(0);
  expect(r.stderr).not.toContain('WTF_NOT_SINGLE_THREADED');
  expect(r.stdout).toContain(`Quitting process ${child.pid}`);
});

test('execve reports its failures as typed errors and checks its arguments', () => {
  // A failing execve returns: safe to call in the test runner.
  let err: unknown;
  try {
    execve('/nonexistent/program', ['program']);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PosixError);
  expect(err).toMatchObject({ code: 'ENOENT', syscall: 'execve', path: '/nonexistent/program' });
  expect(() => execve('', ['x'])).toThrow(TypeError);
  expect(() => execve('/bin/true', 'x' as unknown as string[])).toThrow(/argv/);
  expect(() => execve('/bin/true', [1 as unknown as string])).toThrow(TypeError);
});
