/**
 * Signals by name and number: the constants, and the checks that turn a
 * name or number a caller passed into a signal number (signal(7)).
 */
import * as os from 'node:os';
import { ArgTypeError, ArgValueError, describe } from '../validate.ts';

const signalNames = new Map<number, string>();
// Two numbers have two names each (SIGABRT and SIGIOT, SIGIO and SIGPOLL):
// the first, as Node lists them, is the one kill -l and strace print.
for (const [name, value] of Object.entries(os.constants.signals))
  if (!signalNames.has(value)) signalNames.set(value, name);

/** The name of a signal number (`'SIGINT'`), or `SIG<n>` for one without a name. Not exported from the package. */
export function signalName(signo: number): string {
  return signalNames.get(signo) ?? `SIG${signo}`;
}

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
 * A signal's number from its name (`signalNumber('SIGTERM') === 15`), or a
 * number checked to be a signal (signal(7)).
 * @throws TypeError when `sig` is neither a string nor a number;
 *   RangeError for an unknown name or a number outside 1 to 64
 * Teaches: signal numbers differ between systems (SIGUSR1 is 10 on Linux
 * and 30 on macOS); the names are what is portable.
 */
export function signalNumber(sig: string | number): number {
  return toSignalNumber(sig);
}

/**
 * A signal argument by name or number, checked; returns its number. `name`
 * is the argument name the messages use; `allowZero` admits 0, the "does it
 * exist" signal of kill(2). Not exported from the package.
 */
export function toSignalNumber(sig: unknown, name = 'signal', allowZero = false): number {
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
