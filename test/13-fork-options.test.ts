/**
 * fork() options: `ignoreSignals` sets dispositions in the child while every
 * signal is still blocked, and bad options are refused before anything forks.
 */
import { fork } from '../lib/index.ts';
import { runFixture } from './helpers.ts';

test('a child forked with ignoreSignals survives that signal; without it, it dies', async () => {
  const r = await runFixture('fork-ignore', { timeoutMs: 60000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout.trim());
  expect(out.ignored).toMatchObject({ kind: 'exited', code: 3 });
  expect(out.byNumber).toMatchObject({ kind: 'exited', code: 3 });
  expect(out.plain).toMatchObject({ kind: 'signaled', signal: 'SIGUSR2' });
});

test('bad fork options throw before any fork', () => {
  // These throw during validation, so nothing is forked in the test runner.
  expect(() => fork({ ignoreSignals: 'SIGINT' as unknown as string[] })).toThrow(/options.ignoreSignals.*array/);
  expect(() => fork({ ignoreSignals: ['SIGNOPE'] })).toThrow(RangeError);
  expect(() => fork({ ignoreSignals: ['SIGKILL'] })).toThrow(/cannot be ignored/);
  expect(() => fork({ ignoreSignals: [0] })).toThrow(RangeError);
  expect(() => fork(42 as unknown as object)).toThrow(TypeError);
});
