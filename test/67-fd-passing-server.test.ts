/**
 * examples/fd-passing-server.js as a real process: the master accepts with
 * the promise API and passes each connection to an idle worker with
 * SCM_RIGHTS; 1,000 connections from 16 concurrent clients all get their
 * reply; SIGTERM ends the workers (their channels close) and the master
 * with status 0, and no zombie is left.
 */
import { startExample, until, zombiesOf } from './helpers.ts';
import { runLoadClient } from './load-client.ts';

test('1,000 connections through 2 workers fed by descriptor passing, then a clean SIGTERM', async () => {
  const server = startExample('fd-passing-server', ['--port', '0', '--workers', '2']);
  await until('the banner', () => /Workers: /.test(server.out()), 20000);
  const port = Number(/Listening on: [\d.]+:(\d+)/.exec(server.out())?.[1]);
  const workers = (/Workers: ([\d ]+)/.exec(server.out())?.[1] ?? '').trim().split(' ').map(Number);
  expect(workers).toHaveLength(2);
  const { code, out } = await runLoadClient(port, 1000);
  expect(code).toBe(0);
  expect(out).toMatch(/ok=1000 errors=0/);
  server.child.kill('SIGTERM');
  expect(await server.exited).toEqual({ code: 0, signal: null });
  for (const pid of workers) expect(server.out()).toContain(`Worker ${pid} is shutting down`);
  expect(zombiesOf(server.pid)).toEqual([]);
  expect(server.err()).toBe('');
});
