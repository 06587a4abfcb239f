/**
 * The EINTR policy (throw by default; retry per call, per process, or per
 * signal with `restart`, with the deadline kept) and delivery to the right
 * thread: signals sent to the process, or to one of its other threads with
 * tgkill, still interrupt the main thread blocked in accept, recv, waitpid.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { collect, runFixture, startFixture } from './helpers.ts';

async function runCase(mode: string): Promise<Record<string, unknown>> {
  const r = await runFixture('sig-cases', { args: [mode], timeoutMs: 20000 });
  if (r.code !== 0) throw new Error(`sig-cases ${mode} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

describe('retry keeps the deadline (signals every 100 ms)', () => {
  test.each(['retry-recv', 'retry-recv-percall', 'restart-option'])(
    '%s: recv with timeoutMs 500 times out at ~500 ms',
    async (mode) => {
      const r = await runCase(mode);
      expect(r.result).toMatchObject({ name: 'TimeoutError', timedOut: true });
      expect(r.elapsed).toBeGreaterThanOrEqual(490);
      expect(r.elapsed).toBeLessThan(800);
      expect(r.handled).toBeGreaterThanOrEqual(3);
    },
  );

  test('sleep under retry sleeps the full time', async () => {
    const r = await runCase('retry-sleep');
    expect(r.result).toBe('returned');
    expect(r.elapsed).toBeGreaterThanOrEqual(495);
    expect(r.elapsed).toBeLessThan(800);
    expect(r.handled).toBeGreaterThanOrEqual(3);
  });
});

// tgkill(2) by syscall number, from perl (always present on Debian).
const tgkillNr: Record<string, number> = { x64: 234, arm64: 131 };

function sigBlocked(pid: number, tid: string, signo: number): boolean {
  try {
    const st = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(st);
    return m ? (BigInt('0x' + m[1]) & (1n << BigInt(signo - 1))) !== 0n : true;
  } catch {
    return true;
  }
}

async function burstsWhileBlocked(how: 'kill' | 'tgkill'): Promise<Record<string, unknown>> {
  const child = startFixture('sig-cases', { args: ['block'] });
  const pid = child.pid!;
  const done = collect(child, { timeoutMs: 60000 });
  let buf = '';
  const state: { current: { call: string; tids: string[] } | null } = { current: null };
  // Every phase the fixture announced, not only the latest: a call can end
  // within 1 ms (a signal of the previous burst that landed late on another
  // thread interrupts it at once), and the fixture then announces the next
  // call before the 10 ms polling below ever sees the short one as current.
  const started = new Set<string>();
  const finished = new Set<string>();
  let threadsHit = new Set<string>();
  child.stdout!.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (msg.blocking) {
        state.current = { call: msg.blocking, tids: msg.tids };
        started.add(msg.blocking);
      }
      if (msg.done) finished.add(msg.done);
    }
  });
  const burst = (): void => {
    const current = state.current;
    if (!current) return;
    if (how === 'kill') {
      for (let k = 0; k < 20; k++) process.kill(pid, 'SIGUSR1');
      return;
    }
    // SIGUSR2 to every thread but the main one that does not block it.
    const others = current.tids.filter((t) => Number(t) !== pid && !sigBlocked(pid, t, 12));
    threadsHit = new Set([...threadsHit, ...others]);
    spawnSync('perl', [
      '-e',
      // Numbers, not strings: perl passes a string to syscall() as a pointer.
      'my ($nr, $pid, $sig, @tids) = map { $_ + 0 } @ARGV; for my $t (@tids) { syscall($nr, $pid, $t, $sig) for 1..5 }',
      String(tgkillNr[os.arch()]),
      String(pid),
      '12',
      ...others,
    ]);
  };
  for (const call of ['accept', 'recv', 'waitpid']) {
    const end = Date.now() + 10000;
    while (!started.has(call) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    while (!finished.has(call) && Date.now() < end) {
      burst();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const r = await done;
  expect(r.code).toBe(0);
  const last = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  return { ...last, threadsHit: threadsHit.size };
}

describe('a signal landing on any thread interrupts the main thread', () => {
  test.each(['kill', 'tgkill'] as const)(
    'bursts by %s during accept, recv, waitpid',
    async (how) => {
      const r = await burstsWhileBlocked(how);
      const results = r.results as Record<string, { ended: string; code: string; ms: number; handled: number }>;
      for (const call of ['accept', 'recv', 'waitpid']) {
        expect(results[call]).toMatchObject({ ended: 'InterruptedError', code: 'EINTR' });
        expect(results[call].handled).toBeGreaterThanOrEqual(1);
        // Far below the 8 s timeout of accept/recv and the 60 s sleeper.
        expect(results[call].ms).toBeLessThan(5000);
      }
      if (how === 'tgkill') expect(r.threadsHit).toBeGreaterThanOrEqual(1);
    },
    60000,
  );
});
