/**
 * The blocking machinery: how a call that may wait lives with signals. A
 * handled signal interrupts a blocking call of this package (the addon's
 * wait ends with EINTR, native/posix/blocking.cc); the JavaScript handlers
 * run here, on the main thread, and then the call throws InterruptedError
 * or starts again, as the EINTR policy says.
 */
import { errnoNumber, InterruptedError, makeError } from './errors.ts';
import { native } from './addon.ts';
import { runPendingSignalHandlers, signalsPending, takeAndRun } from './signals/dispatch.ts';
import { traced } from './trace.ts';
import {
  ArgRangeError,
  ArgTypeError,
  ArgValueError,
  checkInt,
  checkInterruptPolicy,
  checkOptions,
  describe,
} from './validate.ts';

/** What an interrupted blocking call does after the handlers ran. */
export type InterruptPolicy = 'throw' | 'retry';

/** Per-call options of every call that may block. */
export interface BlockingOptions {
  /** Overrides {@link setInterruptPolicy} for this call. */
  onInterrupt?: InterruptPolicy;
  /**
   * Milliseconds to wait at most; by default the socket's SO_RCVTIMEO or
   * SO_SNDTIMEO, else forever. When it passes the call throws TimeoutError.
   */
  timeoutMs?: number;
}

let policy: InterruptPolicy = 'throw';
// While true (the package's own housekeeping calls), blocking calls run no
// signal handler: an interrupted call throws InterruptedError at once and
// the signal stays pending for the user's next call.
let handlersHeld = false;

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
export function setInterruptPolicy(next: InterruptPolicy): InterruptPolicy {
  if (next !== 'throw' && next !== 'retry')
    throw new ArgValueError(`The "policy" argument must be 'throw' or 'retry', received ${describe(next)}`);
  const previous = policy;
  policy = next;
  return previous;
}

/**
 * Runs `fn` with signal handlers held: a blocking call inside it that a
 * signal interrupts throws InterruptedError at once and leaves the signal
 * pending for the program's next call. Not exported from the package.
 */
export function holdingSignalHandlers<T>(fn: () => T): T {
  const was = handlersHeld;
  handlersHeld = true;
  try {
    return fn();
  } finally {
    handlersHeld = was;
  }
}

// Node writes to a stdout/stderr pipe (or socket) without blocking and keeps
// in libuv what the pipe does not take at once; only the event loop writes
// that queue out later, and every later write waits behind it. A program
// that waits in this package's blocking calls never lets the loop run: after
// one stall of its reader (journald, | logger) its output would stop for good
// while the queue grew. So the first blocking call makes those writes
// blocking, as C's stdio is: console.log returns once the pipe took the line,
// waiting while the reader is slow. (Terminals and files are written
// synchronously by Node already; a forked child gets pipes of its own,
// blocking, from fork().)
let stdioBlocks = false;
function blockingStdio(): void {
  stdioBlocks = true;
  for (const stream of [process.stdout, process.stderr]) {
    const handle = (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle;
    if (typeof handle?.setBlocking === 'function') handle.setBlocking(true);
  }
}

/**
 * Runs a blocking call under the EINTR policy. Handlers of signals that
 * arrived while JavaScript ran are run first, so none waits for an unrelated
 * event. When the call is interrupted, the handlers run before it throws
 * InterruptedError (policy 'throw', the default) or starts again with what
 * is left of its timeout (policy 'retry', or every signal was installed
 * with `restart`), as PEP 475 does. `defaultTimeoutMs` gives the wait the
 * call has when `timeoutMs` is not given (0 or less: forever); it is asked
 * only after an interruption. Not exported from the package.
 */
export function blocking<T>(opts: BlockingOptions, defaultTimeoutMs: () => number, run: (timeoutMs: number) => T): T {
  if (!stdioBlocks) blockingStdio();
  if (signalsPending() && !handlersHeld) runPendingSignalHandlers();
  let timeoutMs = opts.timeoutMs ?? -1;
  const start = performance.now();
  let deadline = NaN;
  for (;;) {
    try {
      return run(timeoutMs);
    } catch (err) {
      if (!(err instanceof InterruptedError) || handlersHeld) throw err;
      const { restart } = takeAndRun();
      if ((opts.onInterrupt ?? policy) !== 'retry' && !restart) throw err;
      if (Number.isNaN(deadline)) {
        const limit = timeoutMs >= 0 ? timeoutMs : defaultTimeoutMs();
        deadline = limit > 0 ? start + limit : Infinity;
      }
      if (deadline !== Infinity) timeoutMs = Math.max(0, Math.ceil(deadline - performance.now()));
    }
  }
}

/** Checks the options every blocking call takes. Not exported from the package. */
export function checkBlockingOptions<T extends BlockingOptions>(options: T | undefined): T {
  const o = checkOptions(options) as T;
  if (o.timeoutMs !== undefined) checkInt(o.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1);
  checkInterruptPolicy(o.onInterrupt, 'options.onInterrupt');
  return o;
}

const EINTR = errnoNumber('EINTR') as number;

/**
 * Sleeps, blocking the thread, like sleep(3) in the blog's child. A handled
 * signal interrupts it: the handlers run, then InterruptedError is thrown,
 * or under the 'retry' policy it sleeps what is left (as nanosleep(2)
 * reports the time remaining).
 * @throws InterruptedError (EINTR, syscall 'nanosleep'); TypeError/RangeError
 *   naming `seconds` or the bad option (`timeoutMs` among them: the sleep's
 *   length is its timeout)
 * Teaches: any blocking call, even a sleep, can end early when a signal is handled.
 */
export function sleep(seconds: number, options?: Pick<BlockingOptions, 'onInterrupt'>): void {
  if (typeof seconds !== 'number')
    throw new ArgTypeError(`The "seconds" argument must be of type number, received ${describe(seconds)}`);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 1e9)
    throw new ArgRangeError(`The "seconds" argument must be from 0 to 1e9, received ${seconds}`);
  const o = checkBlockingOptions(options as BlockingOptions | undefined);
  // The sleep's length is its only bound: a timeoutMs would be a second one
  // that sleep(3) has no place for, so it is refused rather than ignored.
  if (o.timeoutMs !== undefined)
    throw new ArgValueError(
      `The "options.timeoutMs" argument is not taken by sleep(), whose length is its timeout; received ${o.timeoutMs}`,
    );
  const total = seconds * 1000;
  traced(
    'nanosleep',
    () => `${seconds}s`,
    () =>
      blocking(
        { onInterrupt: o.onInterrupt },
        () => total,
        (t) => {
          if (native.sleep(t >= 0 ? t : total) > 0) throw makeError(EINTR, 'nanosleep');
        },
      ),
  );
}
