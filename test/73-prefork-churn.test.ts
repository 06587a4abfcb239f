/**
 * 1,000 worker replacements (scaled by WTF_LOAD_SCALE where CI repeats the
 * suite: see loadSize): workers that recycle themselves as soon as
 * they are ready (maxRequests 1), so the master forks, reaps and forgets
 * them as fast as it can. Afterwards the master has no zombie and the same
 * fds it had with no workers at all.
 */
import * as fs from 'node:fs';
import { fdCount, loadSize, zombiesOf, childrenOf } from './helpers.ts';
import { Master, app, until } from './prefork-helpers.ts';

let m: Master | undefined;

/** What each fd of a process refers to. */
function fdTargets(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return fs.readdirSync(dir).map((fd) => {
    try {
      return `${fd}:${fs.readlinkSync(`${dir}/${fd}`)}`;
    } catch {
      return `${fd}:gone`;
    }
  });
}
afterEach(async () => {
  await m?.kill();
});

const REPLACEMENTS = loadSize(1000, 100);

test(`${REPLACEMENTS.toLocaleString('en')} worker replacements: no zombie, no fd growth in the master`, async () => {
  m = new Master(['serve', app('churn'), '--listen', '127.0.0.1:0', '--workers', '0', '--max-requests', '1']);
  const master = m;
  await master.port();
  await master.waitFor(/ready: 0 workers/);
  const fdsBefore = fdCount(master.pid);
  const targetsBefore = fdTargets(master.pid);
  const mapsBefore = fs.readFileSync(`/proc/${master.pid}/maps`, 'utf8').split('\n').length;
  master.signal('SIGTTIN');
  master.signal('SIGTTIN');
  await master.waitFor(/exited \(exit status 0\)/, REPLACEMENTS, 240000);
  master.signal('SIGWINCH');
  await until(() => childrenOf(master.pid).length === 0, 20000, 'no workers');
  expect(zombiesOf(master.pid)).toEqual([]);
  // Every replacement was planned: none counted as a failed start.
  expect(master.out).not.toMatch(/died at start|unexpectedly/);
  // A worker's exit is handled between two turns of the master's loop; a
  // leak would never come back to the count it had with no workers.
  await until(() => fdCount(master.pid) === fdsBefore, 10000, 'the fd count back to its value').catch(() => {
    throw new Error(`fds before: ${targetsBefore.join(' ')}\nfds now: ${fdTargets(master.pid).join(' ')}`);
  });
  const mapsAfter = fs.readFileSync(`/proc/${master.pid}/maps`, 'utf8').split('\n').length;
  expect(mapsAfter).toBeLessThan(mapsBefore * 2);
  master.signal('SIGQUIT');
  expect((await master.exited).code).toBe(0);
});
