/**
 * Worker threads use the promise API with watches of their own (per
 * environment), and a worker terminated while a call waits closes its
 * watch at teardown without touching freed memory.
 */
import { runFixture } from './helpers.ts';

test('8 workers round-trip with the promise API and are terminated while a recv waits', async () => {
  const r = await runFixture('async-workers', { args: ['8'], noSingleThreaded: true, timeoutMs: 60000 });
  expect(r.signal).toBeNull();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { answers: string[]; main: string; fdsBefore: number; fdsAfter: number };
  expect(out.answers).toEqual(Array(8).fill('ping'));
  expect(out.main).toBe('main');
  expect(out.fdsAfter).toBe(out.fdsBefore);
});
