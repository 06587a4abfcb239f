/**
 * Worker threads: the addon keeps its state per environment, so any number
 * of workers can load the package, use the socket layer and end, in either
 * load order, while the main thread keeps its signal handlers. What belongs
 * to the whole process (fork, sigaction, execve, _exit) is refused in a
 * worker with a clear error.
 */
import { runFixture } from './helpers.ts';

for (const order of ['main-first', 'worker-first']) {
  test(`100 workers come and go, ${order}`, async () => {
    const r = await runFixture('workers', { args: [order], timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { workers: number; rounds: number; handled: number; problems: string[] };
    expect(out.problems).toEqual([]);
    expect(out.workers).toBe(100);
    // One idle delivery, then one interrupted call per round.
    expect(out.handled).toBe(1 + out.rounds);
  }, 150_000);
}
