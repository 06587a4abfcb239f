/**
 * The fork matrix: each case forks 20 children in a row from one fixture
 * process, on the node running jest and on every extra binary listed in
 * WTF_EXTRA_NODES (colon-separated paths; CI sets it from
 * scripts/fetch-node.sh). Every status must be the expected one and no
 * process may be left behind.
 */
import { execFileSync } from 'node:child_process';
import { runFixture, type RunResult } from './helpers.ts';

const REPS = 20;
const CASES: [string, string][] = [
  ['a', 'synchronous code only'],
  ['b', 'timers, fs, loopback net, pbkdf2, gzip through the event loop'],
  ['c', '~500 MB of short-lived objects and optimized hot loops'],
  ['d', 'forks a grandchild and reaps it'],
  ['e', 'throws an uncaught exception'],
  ['f', 'calls process.exit(7)'],
  ['g', 'event-loop work and allocation, then each way out in turn'],
];
const EXPECTED: Record<string, (rep: number) => string> = {
  e: () => 'exited 1',
  f: () => 'exited 7',
  g: (rep) => ['exited 3', 'exited 4', 'exited 0', 'exited 1', 'exited 1', 'exited 6'][rep % 6],
};

const extra = (process.env.WTF_EXTRA_NODES ?? '').split(':').filter(Boolean);
const nodes: [string, string][] = [process.execPath, ...extra].map((bin, i) => {
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  const label = i === 0 ? `node ${version} (running jest)` : `node ${version}`;
  return [i === 0 && extra.length === 0 ? `${label}; WTF_EXTRA_NODES unset, no other node version` : label, bin];
});

// Two fixture processes at a time (two cores); the slow case (c) first so
// the short ones fill in around it.
const order = [...CASES].sort(([a], [b]) => (a === 'c' ? -1 : b === 'c' ? 1 : 0));
const queue = nodes.flatMap(([, bin]) => order.map(([c]) => ({ bin, c })));
const results = new Map<string, Promise<RunResult & { ms: number }>>();
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}
function result(bin: string, c: string): Promise<RunResult & { ms: number }> {
  const key = `${bin} ${c}`;
  let p = results.get(key);
  if (!p) {
    p = slot(async () => {
      const t0 = Date.now();
      const r = await runFixture('fork-matrix', { node: bin, args: [c, String(REPS)], timeoutMs: 280000 });
      return { ...r, ms: Date.now() - t0 };
    });
    results.set(key, p);
  }
  return p;
}

const timings: string[] = [];
beforeAll(() => {
  // Start everything now; each test awaits its own run.
  for (const { bin, c } of queue) void result(bin, c);
});
afterAll(() => {
  if (timings.length) process.stdout.write(`fork matrix timings:\n${timings.join('\n')}\n`);
});

describe.each(nodes)('fork matrix on %s', (label, bin) => {
  test.each(CASES)(`case %s: %s, ${REPS} times in a row`, async (c) => {
    const r = await result(bin, c);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !line.startsWith('{')) throw new Error(`fixture failed: ${r.code} ${r.signal}\n${r.stderr}`);
    const o = JSON.parse(line);
    timings.push(`${label} case ${c}: ${r.ms} ms (per child ${Math.min(...o.ms)}-${Math.max(...o.ms)} ms)`);
    const want = Array.from({ length: REPS }, (_, rep) => (EXPECTED[c] ?? (() => 'exited 0'))(rep));
    expect(o.statuses).toEqual(want);
    expect(o.wrong).toEqual([]);
    // Nothing left behind: no child (live or zombie) of the fixture, no
    // grandchild still running, ECHILD from waitpid(-1).
    expect(o.children).toEqual([]);
    expect(o.noMoreChildren).toBe(true);
    expect(o.strays).toEqual([]);
    if (c === 'd') expect(o.grandchildren).toBe(REPS);
    if (c === 'e') {
      for (let rep = 0; rep < REPS; rep++) expect(r.stderr).toMatch(new RegExp(`Error: matrix-e-${rep}\\n\\s+at `));
    }
    if (c === 'g') {
      expect(r.stderr).not.toMatch(/child work failed/);
      for (let rep = 3; rep < REPS; rep += 6) expect(r.stderr).toContain(`Error: matrix-g-${rep}`);
    }
    expect(o.node).toBe(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim());
  });
});
