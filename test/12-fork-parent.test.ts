/**
 * The parent is unharmed by 1,000 forks: its timers, fs, a net server and
 * child_process.spawn still work, its fds are the same, its memory flat.
 */
import { runFixture } from './helpers.ts';

// Tolerances: RSS may move by allocator noise (a few MB); the JavaScript
// heap after a full GC must not grow by more than 1 MB over 1,000 forks,
// nor between the first and the second 500.
const RSS_MB = 8;
const HEAP_MB = 1;

test('after 1,000 forks the parent works as before, fds unchanged, memory flat', async () => {
  const r = await runFixture('fork-parent', { args: ['1000'], nodeFlags: ['--expose-gc'], timeoutMs: 170000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`fixture failed: ${r.code}\n${r.stderr}`);
  const o = JSON.parse(line);
  expect(o.ok).toBe(1000);
  expect(o.bad).toEqual([]);
  expect(o.leftover).toBe(false);
  expect(o.warm).toEqual({ timer: true, fs: true, net: true, spawn: true });
  expect(o.works).toEqual({ timer: true, fs: true, net: true, spawn: true });
  expect(o.after.fds).toBe(o.before.fds);
  expect(o.end.fds).toBe(o.before.fds);
  expect(o.after.rssMB - o.before.rssMB).toBeLessThan(RSS_MB);
  expect(o.after.rssMB - o.half.rssMB).toBeLessThan(RSS_MB / 2);
  expect(o.after.heapUsedMB - o.before.heapUsedMB).toBeLessThan(HEAP_MB);
  expect(o.after.heapUsedMB - o.half.heapUsedMB).toBeLessThan(HEAP_MB / 2);
  // A child made its stdout pipe blocking for itself only: the parent's
  // open file description keeps its flags.
  expect(o.flagsAfter).toBe(o.flagsBefore);
  process.stdout.write(
    `1,000 forks: ${o.msPerFork} ms each; before ${JSON.stringify(o.before)} after ${JSON.stringify(o.after)}\n`,
  );
});
