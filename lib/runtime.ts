/**
 * The glue between the addon and the public modules: it hands the addon its
 * hooks, keeps the table of JavaScript signal handlers, runs them on the
 * main thread, applies the EINTR policy to every blocking call, and writes
 * the syscall trace. Not exported from the package.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native, type NativeAddressOut } from './native';
import { InterruptedError, errnoMessage, makeError, type PosixError, type PosixErrorInfo } from './errors';

const signalNames = new Map<number, string>();
for (const [name, value] of Object.entries(os.constants.signals)) signalNames.set(value, name);

export function signalName(signo: number): string {
  return signalNames.get(signo) ?? `SIG${signo}`;
}

/** A JavaScript signal handler: gets the signal's name and number. */
export type SignalHandler = (signal: string, signo: number) => void;

interface Installed {
  signo: number;
  handler: SignalHandler;
  restart: boolean;
}

/** The handlers this package runs, by signal number. */
export const handlers = new Map<number, Installed>();

/** What an interrupted blocking call does after the handlers ran. */
export type InterruptPolicy = 'throw' | 'retry';
export const settings: {
  policy: InterruptPolicy;
  onDrain: () => void;
  /**
   * While true (the package's own housekeeping calls), blocking calls run no
   * signal handler: an interrupted call throws InterruptedError at once and
   * the signal stays pending for the user's next call.
   */
  handlersHeld: boolean;
  /** How many times fork() compiled the socket path in this process (tests read it). */
  socketPathRehearsals: number;
} = {
  policy: 'throw',
  onDrain: () => {},
  handlersHeld: false,
  socketPathRehearsals: 0,
};

function bridgeError(
  errno: number,
  syscall: string,
  info?: { address?: NativeAddressOut; pid?: number; path?: string; timedOut?: boolean },
): PosixError {
  const out: PosixErrorInfo = {};
  const a = info?.address;
  if (a && a.family === 'AF_UNIX') out.path = a.path;
  else if (a && a.family !== 'AF_UNSPEC') {
    out.address = a.address;
    out.port = a.port;
  }
  if (info?.pid !== undefined) out.pid = info.pid;
  if (typeof info?.path === 'string') out.path = info.path;
  if (info?.timedOut) out.timedOut = true;
  return makeError(errno, syscall, out);
}

// Called by the addon when the event loop sees the wake fd: the main thread
// is idle, so run the handlers now. An exception goes to Node's
// uncaught-exception machinery, as a throw from any callback would.
function onSignalFromLoop(): void {
  try {
    runSignalHandlers();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

function onDrainFromLoop(): void {
  try {
    settings.onDrain();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/**
 * Who this process is, read lazily: a forked child only clears `pid` (one
 * store), and whatever depends on the pid notices on its next use. Work in
 * the child's first instructions is expensive (each function is compiled
 * afresh and each page written is copied), so it is kept to that.
 */
export const self = { pid: 0, forked: false };

/** This process's pid (getpid(2), cached until the next fork). */
export function currentPid(): number {
  return self.pid || (self.pid = native.getpid());
}

/** Non-zero while a handled signal waits for its JavaScript handler. */
const pendingWord = native.setup(bridgeError, onSignalFromLoop, onDrainFromLoop);

export function signalsPending(): boolean {
  return pendingWord[0] !== 0;
}

/**
 * Runs the handler of every pending signal, once per signal however often
 * it arrived (POSIX lets identical pending signals coalesce). Returns the
 * signals taken. Blocking calls of this package and the idle event loop
 * run them by themselves; this is for a busy loop that does neither.
 * @throws the first error a handler threw, after all of them ran
 * Teaches: standard signals do not queue (signal(7)): two SIGCHLDs that
 * arrive before the handler runs are one call, so the handler must reap
 * every child that is ready, not just one.
 */
export function runSignalHandlers(): number[] {
  return takeAndRun().taken;
}

/**
 * Takes the pending signals and runs their handlers. `restart` says whether
 * an interrupted call may start again on its own: every signal taken was
 * installed with `restart` (or has no JavaScript handler, so nothing asked
 * for EINTR). It is decided before the handlers run, since a one-shot
 * handler uninstalls itself.
 */
function takeAndRun(): { taken: number[]; restart: boolean } {
  const taken = native.takeSignals();
  const run: Installed[] = [];
  let restart = true;
  for (const signo of taken) {
    const h = handlers.get(signo);
    if (!h) continue;
    run.push(h);
    if (!h.restart) restart = false;
  }
  let failure: { err: unknown } | undefined;
  for (const h of run) {
    try {
      h.handler(signalName(h.signo), h.signo);
    } catch (err) {
      failure ??= { err };
    }
  }
  if (failure) throw failure.err;
  return { taken, restart };
}

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

/**
 * Runs a blocking call under the EINTR policy. Handlers of signals that
 * arrived while JavaScript ran are run first, so none waits for an unrelated
 * event. When the call is interrupted, the handlers run before it throws
 * InterruptedError (policy 'throw', the default) or starts again with what
 * is left of its timeout (policy 'retry', or every signal was installed
 * with `restart`), as PEP 475 does.
 */
// Node writes to a stdout/stderr pipe (or socket) without blocking and keeps
// in libuv what the pipe does not take at once; only the event loop writes
// that queue out later, and every later write waits behind it. A program
// that waits in this package's blocking calls never lets the loop run: after
// one stall of its reader (journald, \| logger) its output would stop for good
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

export function blocking<T>(opts: BlockingOptions, defaultTimeoutMs: () => number, run: (timeoutMs: number) => T): T {
  if (!stdioBlocks) blockingStdio();
  if (pendingWord[0] !== 0 && !settings.handlersHeld) runSignalHandlers();
  let timeoutMs = opts.timeoutMs ?? -1;
  const start = performance.now();
  let deadline = NaN;
  for (;;) {
    try {
      return run(timeoutMs);
    } catch (err) {
      if (!(err instanceof InterruptedError) || settings.handlersHeld) throw err;
      const { restart } = takeAndRun();
      if ((opts.onInterrupt ?? settings.policy) !== 'retry' && !restart) throw err;
      if (Number.isNaN(deadline)) {
        const limit = timeoutMs >= 0 ? timeoutMs : defaultTimeoutMs();
        deadline = limit > 0 ? start + limit : Infinity;
      }
      if (deadline !== Infinity) timeoutMs = Math.max(0, Math.ceil(deadline - performance.now()));
    }
  }
}

// ---- the syscall trace -------------------------------------------------------

export const trace = {
  on: /^(1|true|yes|on)$/i.test(process.env.WTF_TRACE ?? ''),
  write: (line: string): void => {
    fs.writeSync(2, line + '\n');
  },
};

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Runs one system call, and when the trace is on prints it as strace would:
 * `[pid 4242] accept(3) = 5 (127.0.0.1:51234)` or
 * `[pid 4242] accept(3) = -1 EINTR (Interrupted system call)`.
 */
export function sys<T>(name: string, args: () => string, call: () => T, result?: (r: T) => string): T {
  if (!trace.on) return call();
  try {
    const r = call();
    const shown = result ? result(r) : r === undefined ? '0' : String(r);
    trace.write(`[pid ${currentPid()}] ${name}(${args()}) = ${shown}`);
    return r;
  } catch (err) {
    const e = err as PosixError;
    if (typeof e?.errno === 'number' && typeof e.code === 'string') {
      trace.write(`[pid ${currentPid()}] ${name}(${args()}) = -1 ${e.code} (${capitalize(errnoMessage(e.errno))})`);
    } else {
      trace.write(`[pid ${currentPid()}] ${name}(${args()}) threw ${String(err)}`);
    }
    throw err;
  }
}

export function formatAddress(
  a: NativeAddressOut | { family: string; address?: string; port?: number; path?: string },
): string {
  if (a.family === 'AF_UNIX') return JSON.stringify((a as { path: string }).path);
  if (a.family === 'AF_INET6') return `[${(a as { address: string }).address}]:${(a as { port: number }).port}`;
  if (a.family === 'AF_INET') return `${(a as { address: string }).address}:${(a as { port: number }).port}`;
  return a.family;
}
