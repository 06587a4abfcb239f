/**
 * sleep and waitpid as Promises. waitpid waits for a child of this package
 * through a pidfd (pidfd_open(2), Linux 5.3) that the event loop watches:
 * the fd turns readable when the child exits, and only then is waitpid(2)
 * called, with WNOHANG. It never reaps a child that child_process started.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { native } from '../addon.ts';
import { errnoNumber, isErrno, makeError } from '../errors.ts';
import { ArgTypeError, ArgValueError, checkBool, checkInt, checkOptions, describe } from '../validate.ts';
import { forkedChildren, onForkedChild, waitpid as waitNow, WNOHANG, type WaitStatus } from '../process/wait.ts';
import { close } from '../sockets/syscalls.ts';
import { onForkedChildStart } from '../process/self.ts';
import { abortError, checkAsyncOptions, type AsyncOptions } from './abort.ts';
import { Call, READABLE } from './readiness.ts';

const ECHILD = errnoNumber('ECHILD') as number;

// The pidfds of the waits in progress. A forked child closes its copies:
// the parent's children are not its own.
const pidfds = new Set<number>();
onForkedChildStart(() => {
  for (const fd of pidfds) native.close(fd);
  pidfds.clear();
});
const ETIMEDOUT = errnoNumber('ETIMEDOUT') as number;

/**
 * Sleeps without blocking the thread: resolves after `seconds`, as
 * node:timers/promises setTimeout does. Signal handlers run meanwhile, from
 * the event loop, and do not end the sleep.
 * @throws (rejects) AbortError when `options.signal` aborts;
 *   TypeError/RangeError naming `seconds` or `options.signal`
 * Teaches: a sleep that yields to the event loop is a timer, not a system call.
 */
export async function sleep(seconds: number, options?: { signal?: AbortSignal }): Promise<void> {
  if (typeof seconds !== 'number')
    throw new ArgTypeError(`The "seconds" argument must be of type number, received ${describe(seconds)}`);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 1e9)
    throw new ArgValueError(`The "seconds" argument must be from 0 to 1e9, received ${seconds}`);
  const o = checkAsyncOptions(options);
  if (o.signal?.aborted) throw abortError(o.signal);
  try {
    await delay(seconds * 1000, undefined, { signal: o.signal });
  } catch (err) {
    // timers/promises' own AbortError, with the signal's reason as cause.
    if ((err as Error).name === 'AbortError' && o.signal) throw abortError(o.signal);
    throw err;
  }
}

/** Options of the promise {@link waitpid}. */
export interface AsyncWaitOptions extends AsyncOptions {
  /** WNOHANG: resolve at once, with kind 'running', if no child exited. */
  nohang?: boolean;
}

function asyncWaitOptions(options: unknown): AsyncWaitOptions {
  if (typeof options === 'number') {
    checkInt(options, 'options', 0, WNOHANG);
    return { nohang: options === WNOHANG };
  }
  const o = checkOptions(options);
  for (const k of ['untraced', 'continued'])
    if (o[k])
      throw new ArgValueError(`The "options.${k}" option is for the blocking waitpid(): a pidfd reports exits only`);
  if (o.nohang !== undefined) checkBool(o.nohang, 'options.nohang');
  return checkAsyncOptions(o as AsyncWaitOptions);
}

/**
 * waitpid(2) as a Promise, for children this package forked: `pid` for
 * one of them, -1 for any (including those forked while it waits).
 * Resolves with the decoded status of a child that exited or was killed,
 * and forgets it in {@link forkedChildren}, as the blocking call does, so
 * the two forms can be mixed. The event loop watches a pidfd per child;
 * the thread never blocks and no signal interrupts the wait.
 * @throws (rejects) ChildProcessError (ECHILD) when `pid` is not a child
 *   this package forked (a child_process child, say) or, for -1, when
 *   there is none; AbortError; TimeoutError (ETIMEDOUT) when `timeoutMs`
 *   passes; PosixError (ENOSYS) on Linux older than 5.3;
 *   RangeError for a process group (0 or < -1), `untraced` or `continued`
 * Teaches: a pidfd turns "a child exited" into fd readiness, so a parent
 * can wait for its children in the same loop as its sockets.
 */
export async function waitpid(pid: number, options?: number | AsyncWaitOptions): Promise<WaitStatus> {
  checkInt(pid, 'pid', -(2 ** 31) + 1, 2 ** 31 - 1);
  if (pid === 0 || pid < -1)
    throw new ArgValueError(`The "pid" argument of the promise waitpid() must be a pid or -1, received ${pid}`);
  const o = asyncWaitOptions(options);
  if (o.signal?.aborted) throw abortError(o.signal);
  const ours = forkedChildren();
  const pids = pid === -1 ? ours : ours.includes(pid) ? [pid] : [];
  if (pids.length === 0) throw makeError(ECHILD, 'waitpid', { pid });
  for (const p of pids) {
    const s = reap(p);
    if (s) return s;
  }
  if (o.nohang) return { pid: 0, kind: 'running', status: 0 };
  return watchChildren(pid, pids, o);
}

/**
 * wait(2) as a Promise: the promise waitpid(-1).
 * @throws as {@link waitpid}
 * Teaches: "any child" means any child of this package here, never one of child_process's.
 */
export function wait(options?: AsyncWaitOptions): Promise<WaitStatus> {
  return waitpid(-1, options);
}

// waitpid(pid, WNOHANG): the status of a child that exited, undefined while
// it runs or when it was reaped elsewhere.
function reap(pid: number): WaitStatus | undefined {
  try {
    const s = waitNow(pid, WNOHANG);
    return s.pid !== 0 && (s.kind === 'exited' || s.kind === 'signaled') ? s : undefined;
  } catch (err) {
    if (isErrno(err, 'ECHILD')) return undefined;
    throw err;
  }
}

// Watches a pidfd per child (and per child forked meanwhile, for -1) until
// one exits, the signal aborts or the deadline passes.
function watchChildren(pid: number, pids: number[], o: AsyncWaitOptions): Promise<WaitStatus> {
  return new Promise<WaitStatus>((resolve, reject) => {
    const open = new Map<number, { pidfd: number; call: Call }>();
    let done = false;
    const stopForks = pid === -1 ? onForkedChild((p) => watch(p)) : () => {};
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      stopForks();
      for (const { pidfd, call } of open.values()) {
        call.end();
        pidfds.delete(pidfd);
        close(pidfd); // a wait still pending on it rejects with EBADF, ignored
      }
      open.clear();
      settle();
    };
    const forget = (p: number): void => {
      const w = open.get(p);
      if (!w) return;
      open.delete(p);
      w.call.end();
      pidfds.delete(w.pidfd);
      close(w.pidfd);
      if (open.size === 0) finish(() => reject(makeError(ECHILD, 'waitpid', { pid })));
    };
    function watch(p: number): void {
      let pidfd: number;
      try {
        pidfd = native.pidfdOpen(p);
      } catch (err) {
        // ESRCH: the child was reaped elsewhere already.
        if (isErrno(err, 'ESRCH')) return;
        return finish(() => reject(err));
      }
      const timeout = (): Error => makeError(ETIMEDOUT, 'waitpid', { pid, timedOut: true });
      pidfds.add(pidfd);
      const call = new Call(pidfd, 'waitpid', o, timeout);
      open.set(p, { pidfd, call });
      call.wait(READABLE).then(
        () => {
          if (done) return;
          let s: WaitStatus | undefined;
          try {
            s = reap(p);
          } catch (err) {
            return finish(() => reject(err));
          }
          if (s) finish(() => resolve(s));
          else forget(p);
        },
        (err: Error) => {
          if (!done && !isErrno(err, 'EBADF')) finish(() => reject(err));
        },
      );
    }
    for (const p of pids) watch(p);
    if (open.size === 0 && !done) finish(() => reject(makeError(ECHILD, 'waitpid', { pid })));
  });
}
