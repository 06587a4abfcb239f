/**
 * 50,000 random calls across every export of the package and of the addon
 * (except those that act on whole processes), with hostile arguments, in a
 * subprocess: zero crashes, zero hangs, every call returns or throws within
 * 3 seconds, and every fd the process had before is still open after. The
 * seed is printed (and taken from WTF_FUZZ_SEED to replay a run).
 */
import { runFixture } from './helpers.ts';

test('50,000 random calls: no crash, no hang, no fd of Node touched', async () => {
  const seed = process.env.WTF_FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
  // The watchdog: a run that hangs is killed, and fails below.
  const r = await runFixture('fuzz-calls', { args: [seed, '50000'], timeoutMs: 240000 });
  const context = `seed ${seed} (replay: WTF_FUZZ_SEED=${seed})\n${r.stderr.slice(-2000)}`;
  expect({ signal: r.signal, code: r.code, context }).toEqual({ signal: null, code: 0, context });
  expect(r.stderr).toBe(`fuzz seed ${seed}\n`);
  const out = JSON.parse(r.stdout) as {
    calls: number;
    returned: number;
    threw: number;
    slow: string[];
    intact: boolean;
  };
  expect(out.calls).toBeGreaterThanOrEqual(50000);
  expect(out.slow).toEqual([]);
  expect(out.intact).toBe(true);
  // Both outcomes happen: the fuzz reaches the kernel, not only the argument checks.
  expect(out.returned).toBeGreaterThan(5000);
  expect(out.threw).toBeGreaterThan(5000);
}, 300_000); // longer than the fixture's own 240 s watchdog, which reports a hang
