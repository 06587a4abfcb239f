/**
 * signal(2) and sigaction(2) with the blog's semantics: a handled signal
 * interrupts a blocking call of this package with EINTR, and the JavaScript
 * handler runs on the main thread (never inside the C signal handler) before
 * that call throws {@link InterruptedError}, or from the event loop when the
 * thread is idle.
 */
import { isMainThread } from 'node:worker_threads';
import { C, native } from '../addon.ts';
import { onForkedChildStartOnceUsed, perProcess } from '../process/self.ts';
import { traced } from '../trace.ts';
import { ArgTypeError, ArgValueError, checkBool, checkOptions, describe } from '../validate.ts';
import {
  addWatcher,
  clearHandler,
  clearHandlers,
  hasHandlers,
  isWatched,
  setHandler,
  type SignalHandler,
} from './dispatch.ts';
import { signalName, signals, toSignalNumber, type SignalName } from './names.ts';

export type { SignalHandler };

const uncatchable = new Set([signals.SIGKILL, signals.SIGSTOP]);
// A handler that only records the signal and returns would re-run the
// faulting instruction forever.
const faults = new Set([signals.SIGSEGV, signals.SIGBUS, signals.SIGFPE, signals.SIGILL]);

/** Options of {@link sigaction}. */
export interface SigactionOptions {
  /**
   * SA_RESTART: an interrupted blocking call of this package starts again
   * after the handler instead of throwing InterruptedError. Default false,
   * so calls fail with EINTR as in the blog.
   */
  restart?: boolean;
  /** SA_NOCLDSTOP (SIGCHLD only): no SIGCHLD when a child stops or continues. */
  nocldstop?: boolean;
  /** SA_NOCLDWAIT (SIGCHLD only): exited children are not left as zombies. */
  nocldwait?: boolean;
  /** Like SA_RESETHAND: the previous disposition comes back after the first delivery. */
  oneShot?: boolean;
}

/**
 * What a signal does: a handler, `'ignore'` (SIG_IGN), or `'default'`:
 * whatever was there before this package (Node's own handler, or SIG_DFL).
 */
export type Disposition = SignalHandler | 'default' | 'ignore';

// What each signal was set to through this package, in this process (a
// forked child starts with none: the addon put its dispositions back).
const current = perProcess(() => new Map<number, Disposition>());

/**
 * sigaction(2): installs a JavaScript handler (or `'ignore'`, or back to
 * `'default'`) for a signal, by name or number. Returns the previous
 * disposition. The C handler installed for it records the signal
 * async-signal-safely, wakes the main thread, and chains to the handler it
 * replaced, so `process.on('SIGINT')` listeners still fire.
 * @throws RangeError for SIGKILL/SIGSTOP (whatever the handler), for a
 *   JavaScript handler on a fault signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL),
 *   and for an unknown signal; TypeError for a handler that is not a
 *   function, 'default' or 'ignore', or a non-boolean option; PosixError
 *   (EINVAL) if the kernel refuses
 * Teaches: sigaction(2) and signal-safety(7): the C handler may only record
 *   the signal; the JavaScript handler runs later, on the main thread.
 */
export function sigaction(sig: SignalName | number, handler: Disposition, options?: SigactionOptions): Disposition {
  if (!isMainThread)
    throw new Error(
      'sigaction() acts on the whole process and may only be called from the main thread, not a worker thread',
    );
  const signo = toSignalNumber(sig);
  const o = checkOptions(options);
  for (const k of ['restart', 'nocldstop', 'nocldwait', 'oneShot'] as const)
    if (o[k] !== undefined) checkBool(o[k], `options.${k}`);
  if (uncatchable.has(signo)) throw new ArgValueError(`${signalName(signo)} cannot be caught or ignored`);
  if (typeof handler !== 'function' && handler !== 'default' && handler !== 'ignore') {
    throw new ArgTypeError(
      `The "handler" argument must be a function, 'default' or 'ignore', received ${describe(handler)}`,
    );
  }
  if (typeof handler === 'function' && faults.has(signo))
    throw new ArgValueError(`${signalName(signo)} cannot be handled from JavaScript`);
  const previous = current().get(signo) ?? 'default';
  const flags =
    (o.restart ? C.SA_RESTART : 0) | (o.nocldstop ? C.SA_NOCLDSTOP : 0) | (o.nocldwait ? C.SA_NOCLDWAIT : 0);
  // Back to 'default' while this package listens for the signal itself:
  // its C handler stays, with SA_RESTART, so nothing is interrupted.
  const watched = handler === 'default' && isWatched(signo);
  const disposition =
    handler === 'default' && !watched
      ? C.DISPOSITION_PREVIOUS
      : handler === 'ignore'
        ? C.DISPOSITION_IGNORE
        : C.DISPOSITION_HANDLE;
  watchNodeListeners();
  traced(
    'sigaction',
    () => `${signalName(signo)}, ${typeof handler === 'function' ? handler.name || 'handler' : handler}`,
    () => native.sigaction(signo, disposition, watched ? C.SA_RESTART : flags),
  );
  if (typeof handler === 'function') {
    const run: SignalHandler = o.oneShot
      ? (name, n, count) => {
          sigaction(signo, previous);
          handler(name, n, count);
        }
      : handler;
    setHandler(signo, run, o.restart === true);
    current().set(signo, handler);
  } else {
    clearHandler(signo);
    if (handler === 'default') current().delete(signo);
    else current().set(signo, handler);
  }
  return previous;
}

/**
 * signal(2), the blog's way: `signal('SIGCHLD', handleChildren)`. The same as
 * {@link sigaction} without options: no SA_RESTART, so a blocking call that
 * the signal interrupts throws InterruptedError after the handler ran.
 * @throws RangeError for SIGKILL and SIGSTOP, and for a function handler on
 *   SIGSEGV, SIGBUS, SIGFPE or SIGILL; TypeError/RangeError naming "signal"
 *   or `handler`; PosixError (EINVAL) for a signal the C library keeps for
 *   itself (32 and 33 with glibc)
 * Teaches: a handled signal makes a blocked call fail with EINTR unless
 * SA_RESTART was asked for.
 */
export function signal(sig: SignalName | number, handler: Disposition): Disposition {
  return sigaction(sig, handler);
}

let watching = false;

// process.on('SIGINT', ...) makes libuv install its own handler over ours,
// and removing the last listener makes it put SIG_DFL there. Node's own
// 'newListener'/'removeListener' listeners, registered at startup, run
// before these, so by now libuv has done it: take the signal back at once
// (chaining to libuv's handler when it is there) rather than at the next
// turn of the event loop, so no signal is missed in between.
function watchNodeListeners(): void {
  if (watching) return;
  watching = true;
  const retake = (event: string | symbol): void => {
    if (typeof event === 'string' && event.startsWith('SIG') && hasHandlers()) native.reassertSignals();
  };
  process.on('newListener', retake);
  process.on('removeListener', retake);
}

/**
 * Forgets every handler: in a forked child, whose dispositions the addon
 * already put back. Never throws.
 * Teaches: a forked child inherits its parent's signal dispositions (fork(2)).
 */
export function forgetSignalHandlers(): void {
  clearHandlers();
  current().clear();
}

/**
 * Calls `fn` each time `signo` arrives, from the event loop or a blocking
 * call (as handlers run), until the returned function is called, whatever
 * the user's disposition: with none, the C handler is installed with
 * SA_RESTART (nothing is interrupted, and it chains to Node's or libuv's),
 * and removed with the last watcher. While any watcher is there, the event
 * loop stays alive. Main thread only. Not exported from the package.
 */
export function watchSignal(signo: number, fn: () => void): () => void {
  const w = addWatcher(signo, fn);
  if (w.first && !current().has(signo)) {
    try {
      native.sigaction(signo, C.DISPOSITION_HANDLE, C.SA_RESTART);
    } catch (err) {
      w.stop();
      throw err;
    }
  }
  giveBackInChild();
  native.keepSignalWatch(true);
  keeping++;
  const generation = forks;
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    // In a forked child, the parent's watch is not its own.
    if (generation !== forks) return;
    keeping--;
    native.keepSignalWatch(false);
    if (w.stop() && !current().has(signo)) native.sigaction(signo, C.DISPOSITION_PREVIOUS, 0);
  };
}

// How many watches keep the event loop alive. A forked child gives back
// its parent's (the addon's count was copied with the memory).
let keeping = 0;
let forks = 0;
const giveBackInChild = onForkedChildStartOnceUsed(() => {
  forks++;
  for (; keeping > 0; keeping--) native.keepSignalWatch(false);
});
