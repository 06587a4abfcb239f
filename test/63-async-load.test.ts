/**
 * The promise API under load, in fixtures of their own: 2,000 connections
 * through an async server while a 10 ms interval keeps firing and the
 * event loop's delay stays low (p99 under 50 ms), then 10,000 async
 * accepts with no growth in active handles, uv_poll watches, fds or heap.
 * node:net clients in the same process share the loop with the server.
 */
import { runFixture } from './helpers.ts';

interface Snapshot {
  handles: Record<string, number>;
  fds: number;
  heap: number;
}
interface Load {
  connections: number;
  wrong: number;
  elapsedMs: number;
  ticks: number;
  maxGapMs: number;
  p99Ms: number;
  before: Snapshot;
  after: Snapshot;
  watchesAfter: { fds: number; watches: number; active: number };
}

async function load(connections: number): Promise<Load> {
  const r = await runFixture('async-load', {
    args: [String(connections), '10'],
    nodeFlags: ['--expose-gc'],
    noSingleThreaded: true,
    timeoutMs: 110000,
  });
  if (r.code !== 0) throw new Error(`fixture failed: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Load;
}

test('2,000 connections: every answer right, the loop stays free', async () => {
  const r = await load(2000);
  expect(r.wrong).toBe(0);
  expect(r.p99Ms).toBeLessThan(50);
  // The interval kept firing through the run.
  expect(r.ticks).toBeGreaterThanOrEqual(Math.floor(r.elapsedMs / 10 / 4));
  expect(r.maxGapMs).toBeLessThan(1000);
});

test('10,000 async accepts: no growth in handles, watches, fds or heap', async () => {
  const r = await load(10000);
  expect(r.wrong).toBe(0);
  expect(r.after.handles).toEqual(r.before.handles);
  expect(r.after.fds).toBe(r.before.fds);
  expect(r.watchesAfter).toEqual({ fds: 0, watches: 0, active: 0 });
  expect(r.after.heap - r.before.heap).toBeLessThan(8 * 1024 * 1024);
});
