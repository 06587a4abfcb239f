/**
 * examples/async-forking-server.js as a real process: the parent accepts
 * with the promise API, forks per connection (the child serves through
 * node:net), reaps with the promise waitpid, and its node:http status page
 * keeps answering while 200 connections go through; afterwards every child
 * is reaped, and SIGTERM ends it with status 0 and no zombie.
 */
import * as http from 'node:http';
import { sleepMs, startExample, until, zombiesOf } from './helpers.ts';
import { runLoadClient } from './load-client.ts';

function getStatus(port: number): Promise<{ alive: number; served: number; reaped: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('timeout', () => req.destroy(new Error('the status page did not answer within 5 s')));
    req.on('error', reject);
  });
}

test('serves 200 connections, the status page answers throughout, every child reaped, SIGTERM exits 0', async () => {
  const server = startExample('async-forking-server', ['--port', '0', '--status-port', '0']);
  await until('the banner', () => /Status on: /.test(server.out()), 20000);
  const port = Number(/Listening on: [\d.]+:(\d+)/.exec(server.out())?.[1]);
  const statusPort = Number(/Status on: [\d.]+:(\d+)/.exec(server.out())?.[1]);
  const clientDone = runLoadClient(port, 200);
  let running = true;
  void clientDone.then(() => (running = false));
  const answers: number[] = [];
  while (running) {
    const t0 = performance.now();
    await getStatus(statusPort);
    answers.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
  const { code, out } = await clientDone;
  expect(code).toBe(0);
  expect(out).toMatch(/ok=200 errors=0/);
  expect(answers.length).toBeGreaterThanOrEqual(1);
  for (let i = 0; i < 100 && (await getStatus(statusPort)).reaped !== 200; i++) await sleepMs(200);
  expect(await getStatus(statusPort)).toEqual({ alive: 0, served: 200, reaped: 200 });
  expect(zombiesOf(server.pid)).toEqual([]);
  // A child never acts on the waits its parent had pending at the fork.
  expect(server.err()).toBe('');
  server.child.kill('SIGTERM');
  expect(await server.exited).toEqual({ code: 0, signal: null });
});
