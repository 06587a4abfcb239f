/**
 * signal(2) and sigaction(2) with the blog's semantics: a handled signal
 * interrupts a blocking call of this package with EINTR, and the JavaScript
 * handler runs on the main thread (never inside the C signal handler) before
 * that call throws {@link InterruptedError}, or from the event loop when the
 * thread is idle.
 */
import * as os from 'node:os';
import { native } from './native';
import {
  currentPid,
  handlers,
  runSignalHandlers,
  settings,
  signalName,
  sys,
  type InterruptPolicy,
  type SignalHandler,
} from './runtime';
import { ArgTypeError, ArgValueError, checkBool, checkOptions, describe } from './validate';

export type { SignalHandler, InterruptPolicy };
export { runSignalHandlers as runPendingSignalHandlers };

/** Signal names this system knows (`'SIGINT'`, `'SIGCHLD'`, ...). */
export type SignalName = keyof typeof os.constants.signals;

/** Signal numbers by name, from the system headers. */
export const signals: Readonly<Record<SignalName, number>> = os.constants.signals;
/** SIGHUP: the controlling terminal hung up; daemons often take it as "reload". Default: terminate (signal(7)). */
export const SIGHUP = signals.SIGHUP;
/** SIGINT: interrupt from the keyboard (Ctrl-C), sent to the whole foreground process group. Default: terminate. */
export const SIGINT = signals.SIGINT;
/** SIGQUIT: quit from the keyboard (Ctrl-\). Default: terminate with a core dump. */
export const SIGQUIT = signals.SIGQUIT;
/** SIGKILL: ends the process; it cannot be caught, blocked or ignored. */
export const SIGKILL = signals.SIGKILL;
/** SIGUSR1: no meaning of its own, for programs to define. Default: terminate. */
export const SIGUSR1 = signals.SIGUSR1;
/** SIGUSR2: no meaning of its own, for programs to define. Default: terminate. */
export const SIGUSR2 = signals.SIGUSR2;
/** SIGPIPE: a write to a pipe or socket that nobody reads any more. Default: terminate; send here never raises it. */
export const SIGPIPE = signals.SIGPIPE;
/** SIGALRM: the timer set by alarm(2) ran out. Default: terminate. */
export const SIGALRM = signals.SIGALRM;
/** SIGTERM: the polite request to end, what kill(1) and {@link kill} send by default. Default: terminate. */
export const SIGTERM = signals.SIGTERM;
/** SIGCHLD: a child exited, or stopped or continued. Default: ignore (the child stays a zombie until waited for). */
export const SIGCHLD = signals.SIGCHLD;
/** SIGCONT: continue a stopped process. Default: continue. */
export const SIGCONT = signals.SIGCONT;
/** SIGSTOP: stops the process until SIGCONT; it cannot be caught, blocked or ignored. */
export const SIGSTOP = signals.SIGSTOP;

/**
 * A signal by name or number, checked; returns its number (signal(7)).
 * `name` is the argument name the messages use; `allowZero` admits 0, the
 * "does it exist" signal of kill(2).
 * @throws TypeError when `sig` is neither a string nor a number;
 *   RangeError for an unknown name or a number outside 1 to 64 (0 to 64
 *   with `allowZero`)
 * Teaches: signal numbers differ between systems (SIGUSR1 is 10 on Linux
 * and 30 on macOS); the names are what is portable.
 */
export function signalNumber(sig: unknown, name = 'signal', allowZero = false): number {
  if (typeof sig === 'string') {
    const n = (signals as Record<string, number>)[sig];
    if (n === undefined)
      throw new ArgValueError(`The "${name}" argument must be a signal name such as 'SIGTERM', received '${sig}'`);
    return n;
  }
  if (typeof sig === 'number') {
    if (Number.isInteger(sig) && ((allowZero && sig === 0) || (sig >= 1 && sig <= 64))) return sig;
    throw new ArgValueError(
      `The "${name}" argument must be a signal number from ${allowZero ? 0 : 1} to 64, received ${sig}`,
    );
  }
  throw new ArgTypeError(`The "${name}" argument must be a signal name or number, received ${describe(sig)}`);
}

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

const current = new Map<number, Disposition>();

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
 *   (EINVAL) if the kernel refuses, and for SIGRTMAX - 1, which this package
 *   keeps for ending a blocking call at its deadline
 * Teaches: sigaction(2) and signal-safety(7): the C handler may only record
 *   the signal; the JavaScript handler runs later, on the main thread.
 */
export function sigaction(sig: SignalName | number, handler: Disposition, options?: SigactionOptions): Disposition {
  const signo = signalNumber(sig);
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
  ownTables();
  const previous = current.get(signo) ?? 'default';
  const flags = (o.restart ? 1 : 0) | (o.nocldstop ? 2 : 0) | (o.nocldwait ? 4 : 0);
  const disposition = handler === 'default' ? 0 : handler === 'ignore' ? 1 : 2;
  watchNodeListeners();
  sys(
    'sigaction',
    () => `${signalName(signo)}, ${typeof handler === 'function' ? handler.name || 'handler' : handler}`,
    () => native.sigaction(signo, disposition, flags),
  );
  if (typeof handler === 'function') {
    const run: SignalHandler = o.oneShot
      ? (name, n) => {
          sigaction(signo, previous);
          handler(name, n);
        }
      : handler;
    handlers.set(signo, { signo, handler: run, restart: o.restart === true });
    current.set(signo, handler);
  } else {
    handlers.delete(signo);
    if (handler === 'default') current.delete(signo);
    else current.set(signo, handler);
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

/**
 * What every interrupted blocking call does after the handlers ran:
 * `'throw'` InterruptedError (the default, the blog's model) or `'retry'`
 * with what is left of its timeout (Python's PEP 475). Each call can
 * override it with its `onInterrupt` option. Returns the previous policy.
 * See signal(7), "Interruption of system calls and library functions by
 * signal handlers", for what SA_RESTART does in C.
 * @throws RangeError naming `policy` for anything but 'throw' or 'retry'
 * Teaches: whether an interrupted call fails with EINTR or starts again is
 * a choice the program makes, per signal in C (SA_RESTART).
 */
export function setInterruptPolicy(policy: InterruptPolicy): InterruptPolicy {
  if (policy !== 'throw' && policy !== 'retry')
    throw new ArgValueError(`The "policy" argument must be 'throw' or 'retry', received ${describe(policy)}`);
  const previous = settings.policy;
  settings.policy = policy;
  return previous;
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
    if (typeof event === 'string' && event.startsWith('SIG') && handlers.size > 0) native.reassertSignals();
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
  handlers.clear();
  current.clear();
}

// The tables belong to the process that filled them. A forked child (whose
// dispositions the addon already put back) clears them on first use here,
// not in its first instructions.
let tablesOwner = 0;
function ownTables(): void {
  if (tablesOwner === currentPid()) return;
  if (tablesOwner !== 0) forgetSignalHandlers();
  tablesOwner = currentPid();
}
