/**
 * sleep and waitpid as Promises. waitpid(pid) waits for a child of this
 * package through a pidfd (pidfd_open(2), Linux 5.3) that the event loop
 * watches: the fd turns readable when the child exits, and only then is
 * waitpid(2) called, with WNOHANG. waitpid(-1) waits for SIGCHLD, through
 * this package's signal handling, and then asks each child of this package
 * with WNOHANG. Neither ever reaps a child that child_process started.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { native } from '../addon.ts';
import { errnoNumber, isErrno, makeError } from '../errors.ts';
import { ArgTypeError, ArgValueError, checkBool, checkInt, checkOptions, describe } from '../validate.ts';
import { forgetForkedChild, forkedChildren, waitpid as waitNow, WNOHANG, type WaitStatus } from '../process/wait.ts';
import { SIGCHLD } from '../signals/names.ts';
import { watchSignal } from '../signals/dispositions.ts';
import { close } from '../sockets/syscalls.ts';
import { onForkedChildStartOnceUsed } from '../process/self.ts';
import { abortError, checkAsyncOptions, type AsyncOptions } from './abort.ts';
import { Call, READABLE } from './readiness.ts';

const ECHILD = errnoNumber('ECHILD') as number;

// The pidfds of the waits in progress. A forked child closes its copies:
// the parent's children are not its own.
const pidfds = new Set<number>();
const closePidfdsInChild = onForkedChildStartOnceUsed(() => {
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
 * the two forms can be mixed. For one pid the event loop watches its pidfd;
 * for -1 it waits for SIGCHLD: while it waits, this package's C handler is
 * installed for SIGCHLD (with SA_RESTART, chaining to Node's, so a
 * blocking call is not interrupted and child_process still hears of its
 * children), unless a handler of the user's is there, which still runs.
 * The thread never blocks and no signal interrupts the wait. With SIGCHLD
 * ignored (`signal('SIGCHLD', 'ignore')` or `nocldwait`), the kernel reaps
 * the children itself and no wait can see them, as with waitpid(2).
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
  if (pid === -1 && !o.nohang) return waitAny(o);
  for (const p of pids) {
    const s = reap(p);
    if (s) return s;
  }
  if (o.nohang) {
    if (forkedChildren().length === 0) throw makeError(ECHILD, 'waitpid', { pid });
    return { pid: 0, kind: 'running', status: 0 };
  }
  return watchChild(pid, o);
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
// it runs or when it was reaped elsewhere (then it is forgotten).
function reap(pid: number): WaitStatus | undefined {
  try {
    const s = waitNow(pid, WNOHANG);
    return s.pid !== 0 && (s.kind === 'exited' || s.kind === 'signaled') ? s : undefined;
  } catch (err) {
    if (!isErrno(err, 'ECHILD')) throw err;
    forgetForkedChild(pid);
    return undefined;
  }
}

// The waits for any child in progress. A forked child drops them: they
// were its parent's, and never settle there.
const anyWaits = new Set<{ orphan: () => void }>();
const orphanAnyWaitsInChild = onForkedChildStartOnceUsed(() => {
  for (const w of anyWaits) w.orphan();
  anyWaits.clear();
});

// Waits for SIGCHLD, and at each (one may stand for several exits) asks
// every child of this package, until one has exited, none is left, the
// signal aborts or the deadline passes. The watch is set before the first
// look, so an exit in between is not missed.
function waitAny(o: AsyncWaitOptions): Promise<WaitStatus> {
  return new Promise<WaitStatus>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => finish(() => reject(abortError(o.signal as AbortSignal)));
    const self = {
      orphan: (): void => {
        done = true;
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      },
    };
    const finish = (settle: () => void): void => {
      if (done) return;
      self.orphan();
      anyWaits.delete(self);
      stop();
      settle();
    };
    const look = (): void => {
      if (done) return;
      const pids = forkedChildren();
      if (pids.length === 0) return finish(() => reject(makeError(ECHILD, 'waitpid', { pid: -1 })));
      for (const p of pids) {
        let s: WaitStatus | undefined;
        try {
          s = reap(p);
        } catch (err) {
          return finish(() => reject(err));
        }
        if (s) return finish(() => resolve(s));
      }
      if (forkedChildren().length === 0) finish(() => reject(makeError(ECHILD, 'waitpid', { pid: -1 })));
    };
    const stop = watchSignal(SIGCHLD, look);
    orphanAnyWaitsInChild();
    anyWaits.add(self);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.timeoutMs !== undefined)
      timer = setTimeout(
        () => finish(() => reject(makeError(ETIMEDOUT, 'waitpid', { pid: -1, timedOut: true }))),
        o.timeoutMs,
      );
    look();
  });
}

// Watches the pidfd of one child until it exits, the signal aborts or the
// deadline passes.
function watchChild(pid: number, o: AsyncWaitOptions): Promise<WaitStatus> {
  return new Promise<WaitStatus>((resolve, reject) => {
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(pid);
    } catch (err) {
      // ESRCH: the child was reaped elsewhere already.
      if (!isErrno(err, 'ESRCH')) return reject(err);
      forgetForkedChild(pid);
      return reject(makeError(ECHILD, 'waitpid', { pid }));
    }
    closePidfdsInChild();
    pidfds.add(pidfd);
    const timeout = (): Error => makeError(ETIMEDOUT, 'waitpid', { pid, timedOut: true });
    const call = new Call(pidfd, 'waitpid', o, timeout);
    const finish = (settle: () => void): void => {
      call.end();
      pidfds.delete(pidfd);
      close(pidfd);
      settle();
    };
    call.wait(READABLE).then(
      () => {
        let s: WaitStatus | undefined;
        try {
          s = reap(pid);
        } catch (err) {
          return finish(() => reject(err));
        }
        // Readable and not ours to collect: reaped elsewhere meanwhile.
        finish(() => (s ? resolve(s) : reject(makeError(ECHILD, 'waitpid', { pid }))));
      },
      (err: Error) => finish(() => reject(err)),
    );
  });
}
