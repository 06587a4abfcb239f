/**
 * fork(2), waitpid(2), kill(2) and _exit(2), made safe in a Node process.
 * See docs/fork-in-node.md for what breaks when Node forks and what this
 * module does about each hazard.
 */
import { isMainThread } from 'node:worker_threads';
import * as util from 'node:util';
import { C, native, type NativeWaitStatus } from './native';
import {
  blocking,
  currentPid,
  self,
  settings,
  signalName,
  signalsPending,
  sys,
  trace,
  type BlockingOptions,
} from './runtime';
import { Socket } from './socket';
import { socketpair } from './sockets';
import { signalNumber, signals } from './signals';
import {
  ArgTypeError,
  ArgValueError,
  checkBool,
  checkFlags,
  checkInt,
  checkInterruptPolicy,
  checkOptions,
  describe,
} from './validate';

/** waitpid(2) WNOHANG: return at once (pid 0) when no child changed state. */
export const WNOHANG = C.WNOHANG;
/** waitpid(2) WUNTRACED: also report children that stopped. */
export const WUNTRACED = C.WUNTRACED;
/** waitpid(2) WCONTINUED: also report stopped children that SIGCONT resumed. */
export const WCONTINUED = C.WCONTINUED;

/**
 * A decoded wait status. `kind` says what happened: `'exited'` (with
 * `code`), `'signaled'` (with `signal` and `coreDumped`), `'stopped'` or
 * `'continued'`; under WNOHANG with nothing to report, `pid` is 0 and
 * `kind` is `'running'`. `status` is the raw int for those who want the
 * W* macros.
 */
export interface WaitStatus {
  pid: number;
  kind: 'exited' | 'signaled' | 'stopped' | 'continued' | 'running';
  code?: number;
  signal?: string;
  signalNumber?: number;
  coreDumped?: boolean;
  status: number;
}

/** waitpid options as an object, instead of or besides the bit mask. */
export interface WaitOptions extends Pick<BlockingOptions, 'onInterrupt'> {
  /** WNOHANG: return at once, with kind 'running', if no child changed state. */
  nohang?: boolean;
  /** WUNTRACED: also report children that stopped. */
  untraced?: boolean;
  /** WCONTINUED: also report stopped children that continued. */
  continued?: boolean;
}

// The pids this process forked and has not reaped yet. The set belongs to
// the process that filled it: a forked child starts with an empty one,
// made on its first use (see `self` in runtime.ts).
let forkedPids = new Set<number>();
let forkedOwner = 0;
function forkedSet(): Set<number> {
  if (forkedOwner !== currentPid()) {
    if (forkedOwner !== 0) forkedPids = new Set();
    forkedOwner = currentPid();
  }
  return forkedPids;
}

let warnedThreads = false;
function warnIfThreaded(): void {
  if (warnedThreads || process.execArgv.some((a) => /^--single[-_]threaded$/.test(a))) return;
  warnedThreads = true;
  process.emitWarning(
    'fork() in a node started without --single-threaded: V8 background threads do not exist in the child, ' +
      'and a child that compiles or collects garbage may hang. Start node with --single-threaded ' +
      '(see docs/fork-in-node.md).',
    { code: 'WTF_NOT_SINGLE_THREADED' },
  );
}

/**
 * fork(2): duplicates this process. Returns the child's pid in the parent
 * and 0 in the child, which goes on running JavaScript, event loop included.
 *
 * One native call does the whole sequence: re-mark V8's heap MADV_DOFORK,
 * block every signal, fork, and in the child restore the signal
 * dispositions this package changed, give it a fresh event loop backend
 * (uv_loop_fork) and a wake fd of its own, then restore the mask. The
 * child's handlers table starts empty, and every way out of the child (a
 * return from the event loop, process.exit, an uncaught exception) ends
 * through _exit(2) with the status Node would have used.
 *
 * `options.ignoreSignals` lists signals the child ignores from its first
 * instruction (set while every signal is still blocked, so none slips in
 * before): e.g. SIGINT, so that Ctrl-C, which the terminal sends to the
 * whole process group, does not cut a child's reply short.
 *
 * @throws Error from a worker thread; TypeError/RangeError for bad options;
 *   BlockingIOError (EAGAIN: a process limit reached) or PosixError
 *   (ENOMEM) when the kernel refuses
 * Teaches: fork(2) returns twice, and everything, fds included, is copied.
 */
export function fork(options?: ForkOptions): number {
  if (!isMainThread) throw new Error('fork() may only be called from the main thread, not a worker thread');
  const o = checkOptions(options);
  let ignore: number[] | undefined;
  if (o.ignoreSignals !== undefined) {
    if (!Array.isArray(o.ignoreSignals)) {
      throw new ArgTypeError(
        `The "options.ignoreSignals" argument must be an array, received ${describe(o.ignoreSignals)}`,
      );
    }
    ignore = o.ignoreSignals.map((sig: unknown) => {
      const n = signalNumber(sig, 'options.ignoreSignals');
      if (n === signals.SIGKILL || n === signals.SIGSTOP) throw new ArgValueError(`${signalName(n)} cannot be ignored`);
      return n;
    });
  }
  warnIfThreaded();
  const stdioMask = prepareChildExits();
  rehearseSocketPath();
  const pid = sys(
    'fork',
    () => '',
    () => {
      const r = native.fork(stdioMask, ignore);
      if (r === 0) {
        // The child: two stores. Everything else is ready or done lazily.
        self.forked = true;
        self.pid = 0;
      }
      return r;
    },
  );
  if (pid !== 0) forkedSet().add(pid);
  return pid;
}

/**
 * True in a process that this package forked (fork(2) returned 0 there). Never throws.
 * Teaches: after fork(2) parent and child run the same code; only fork's return value tells them apart.
 */
export function isForkedChild(): boolean {
  return self.forked;
}

/**
 * execve(2): replaces this process's program with `path`, keeping its pid
 * and every fd not marked close-on-exec. `argv[0]` is the program's name;
 * `env` defaults to the current environment. stdin, stdout and stderr are
 * passed on as in C (Node marks them close-on-exec; this clears that).
 * Returns only by throwing.
 * @throws TypeError for bad arguments; PermissionError (EACCES), PosixError
 *   (ENOENT, E2BIG, ENOEXEC)
 * Teaches: fork(2) + execve(2) is how every shell starts a program.
 */
export function execve(path: string, argv: string[], env: NodeJS.ProcessEnv = process.env): never {
  if (typeof path !== 'string' || path.length === 0) {
    throw new ArgTypeError(`The "path" argument must be a non-empty string, received ${describe(path)}`);
  }
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    throw new ArgTypeError(`The "argv" argument must be an array of strings, received ${describe(argv)}`);
  }
  checkOptions(env, 'env');
  const envp = Object.entries(env)
    .filter(([, v]) => typeof v === 'string')
    .map(([k, v]) => `${k}=${v}`);
  return sys(
    'execve',
    () => `${JSON.stringify(path)}, [${argv.map((a) => JSON.stringify(a)).join(', ')}]`,
    () => native.execve(path, argv, envp),
  );
}

/**
 * Makes sure node runs with `--single-threaded`, the flag a forking program
 * needs (see docs/fork-in-node.md): when it is missing, execve(2)s node
 * again with the flag in front of the same arguments. The pid, the fds and
 * the environment stay; the program starts over from its first line, this
 * time with the flag, and the call returns. Call it first thing, before any
 * other work, so nothing runs twice. Node refuses the flag in NODE_OPTIONS,
 * which is why this exists.
 * @throws as {@link execve} when execve(2) fails
 * Teaches: execve(2) keeps the process (its pid and open fds) and replaces only the program.
 */
export function execSingleThreaded(): void {
  if (process.execArgv.some((a) => /^--single[-_]threaded$/.test(a))) return;
  execve(process.execPath, [process.argv0, '--single-threaded', ...process.execArgv, ...process.argv.slice(1)]);
}

/**
 * _exit(2): ends the process at once with `code`, running no 'exit'
 * listeners, no Node teardown and no atexit handlers. The way out of a
 * forked child (every other way out of a child ends here too).
 * @throws RangeError when `code` is not an integer from 0 to 255
 * Teaches: exit(3) tears the process down, _exit(2) just ends it.
 */
export function _exit(code = 0): never {
  checkInt(code, 'code', 0, 255);
  return native._exit(code);
}

let fatal: { err: unknown } | undefined;
let exitsPrepared = false;

function printFatal(err: unknown): void {
  // What Node prints for an uncaught exception: the stack (with the error's
  // own properties, as util.inspect shows them), then the version.
  const text = err instanceof Error ? util.inspect(err) : `Uncaught ${util.inspect(err)}`;
  process.stderr.write(`${text}\n\nNode.js ${process.version}\n`);
}

// In the child, Node's own teardown would join threads that only exist in
// the parent, and hang or crash: every exit path is routed to _exit(2).
// The hooks are installed once, in the parent, before its first fork, and
// do nothing there (they test self.forked); the child inherits them ready.
// Returns the stdio mask for the addon.
function prepareChildExits(): number {
  if (!exitsPrepared) {
    exitsPrepared = true;
    // Node creates process.stdout/stderr lazily and, for a pipe, makes the
    // fd non-blocking then; create them now so a child that writes later
    // does not undo what the addon does for it.
    void process.stdout;
    void process.stderr;
    // Node reads the pid once at start-up; make process.pid follow forks.
    Object.defineProperty(process, 'pid', { get: currentPid, configurable: true, enumerable: true });
    // process.exit(n) emits 'exit' and then calls process.reallyExit, which
    // would run Node's teardown: a child ends there instead.
    const proc = process as unknown as { reallyExit: (code?: number) => void };
    const reallyExit = proc.reallyExit;
    proc.reallyExit = function (this: unknown, code?: number) {
      if (self.forked) native._exit((code ?? Number(process.exitCode ?? 0)) & 0xff);
      return reallyExit.call(this, code);
    };
    // An uncaught exception (or an unhandled rejection, which Node turns
    // into one) that no listener handles makes Node emit 'exit' with status
    // 1, and then C++ prints the error and tears down: print it here, run
    // the 'exit' listeners that come after ours, and leave.
    process.on('uncaughtExceptionMonitor', (err) => {
      if (
        self.forked &&
        process.listenerCount('uncaughtException') === 0 &&
        !process.hasUncaughtExceptionCaptureCallback()
      )
        fatal = { err };
    });
    const onExit = (code: number): void => {
      if (!self.forked || !fatal) return;
      const all = process.listeners('exit');
      for (const l of all.slice(all.indexOf(onExit) + 1)) (l as (c: number) => void)(code);
      printFatal(fatal.err);
      native._exit(Number(process.exitCode ?? code) & 0xff);
    };
    process.on('exit', onExit);
    // When a child's event loop runs dry, Node would wait for V8 tasks that
    // died with the fork. The addon's watcher notices first and asks for
    // Node's steps one at a time: emit 'beforeExit' (whose listeners may
    // schedule more work), then, if the loop is still dry, exit with
    // process.exitCode.
    const phase = native.watchLoopDrain(false);
    // Functions a child calls and the parent never does would be compiled
    // afresh in every child (parse, bytecode, and the page faults that
    // come with them). Run _exit once here, on an argument it refuses, so
    // its bytecode exists before the first fork.
    try {
      _exit(-1);
    } catch {
      // RangeError, as intended
    }
    settings.onDrain = () => {
      if (phase[0] === 1) process.emit('beforeExit', Number(process.exitCode ?? 0));
      else if (phase[0] === 2) process.exit();
    };
  }
  return 3;
}

// Functions a child calls and the parent never did would be compiled again
// in every child. For what a forked server's child does with its connection
// (read a line, send, close), one round trip over a socketpair here compiles
// that path (Socket.readLine, send, recv, close and the Buffer methods under
// them) in the parent before a fork, so each child starts with it ready;
// measured on a fork-per-connection server, about a fifth of each child's
// CPU time. It never runs a signal handler: it waits while a signal is
// pending, and a signal that arrives during it ends it with the signal left
// pending for the user's next call; it is tried again at a later fork (three
// tries in all). A failure (EMFILE, say) costs only the saving. The trace
// does not show it.
let rehearsalTries = 0;
function rehearseSocketPath(): void {
  if (settings.socketPathRehearsals > 0 || rehearsalTries >= 3 || signalsPending()) return;
  rehearsalTries++;
  const tracing = trace.on;
  trace.on = false;
  settings.handlersHeld = true;
  const ends: Socket[] = [];
  try {
    for (const fd of socketpair('AF_UNIX', 'SOCK_STREAM', { cloexec: true })) ends.push(new Socket({ fd }));
    const [a, b] = ends;
    a.send('rehearsal\n');
    b.readLine(64);
    b.send('ok');
    a.recv(16);
    settings.socketPathRehearsals++;
  } catch {
    // only the saving is lost
  } finally {
    for (const s of ends) s.close();
    settings.handlersHeld = false;
    trace.on = tracing;
  }
}

function decode(r: NativeWaitStatus): WaitStatus {
  const out: WaitStatus = { pid: r.pid, kind: r.kind, status: r.status };
  if (r.code !== undefined) out.code = r.code;
  if (r.signal !== undefined) {
    out.signal = signalName(r.signal);
    out.signalNumber = r.signal;
  }
  if (r.coreDumped !== undefined) out.coreDumped = r.coreDumped;
  return out;
}

function waitFlags(options: unknown): { flags: number; o: WaitOptions } {
  if (typeof options === 'number')
    return { flags: checkFlags(options, 'options', { WNOHANG, WUNTRACED, WCONTINUED }), o: {} };
  const o = checkOptions(options) as WaitOptions;
  let flags = 0;
  if (o.nohang !== undefined && checkBool(o.nohang, 'options.nohang')) flags |= WNOHANG;
  if (o.untraced !== undefined && checkBool(o.untraced, 'options.untraced')) flags |= WUNTRACED;
  if (o.continued !== undefined && checkBool(o.continued, 'options.continued')) flags |= WCONTINUED;
  checkInterruptPolicy(o.onInterrupt, 'options.onInterrupt');
  return { flags, o };
}

/**
 * waitpid(2): collects a child's change of state and decodes it. `pid` -1
 * means any child. Options as bits (`WNOHANG`) or an object
 * (`{ nohang: true }`). Without WNOHANG it blocks, and a handled signal
 * interrupts it like any blocking call.
 *
 * Note: `waitpid(-1)` also reaps children started by child_process, whose
 * 'exit' event is then never emitted; use {@link reapChildren} where both
 * live together.
 * @throws ChildProcessError (ECHILD) when there is no such child;
 *   InterruptedError
 * Teaches: a child that exited stays a zombie until its parent waits for it.
 */
export function waitpid(pid: number, options?: number | WaitOptions): WaitStatus {
  checkInt(pid, 'pid', -(2 ** 31) + 1, 2 ** 31 - 1);
  const { flags, o } = waitFlags(options);
  const r = sys(
    'waitpid',
    () => `${pid}, ${flags}`,
    () =>
      blocking(
        { onInterrupt: o.onInterrupt },
        () => 0,
        () => native.waitpid(pid, flags),
      ),
    (s) =>
      s.pid === 0
        ? '0'
        : `${s.pid} (${s.kind}${s.code !== undefined ? ' ' + s.code : ''}${s.signal !== undefined ? ' ' + signalName(s.signal) : ''})`,
  );
  if (r.pid > 0 && (r.kind === 'exited' || r.kind === 'signaled')) forkedSet().delete(r.pid);
  return decode(r);
}

/**
 * wait(2): waits for any child; the same as `waitpid(-1)`.
 * @throws ChildProcessError (ECHILD) when there are no children left;
 *   InterruptedError (EINTR); TypeError naming `options`
 * Teaches: wait(2) collects any one child that changed state, so a parent
 * with several children calls it once for each.
 */
export function wait(options?: Pick<BlockingOptions, 'onInterrupt'>): WaitStatus {
  return waitpid(-1, options);
}

/**
 * Reaps, without blocking, every child that this package forked and that
 * has exited, leaving child_process's children to Node. Returns their
 * statuses, by calling waitpid(2) with WNOHANG for each pid. The safe
 * reaper for a SIGCHLD handler in a process that also uses child_process.
 * @throws nothing of its own: a child reaped elsewhere (ECHILD) counts as
 *   gone; an error from a pending signal handler, which waitpid runs
 *   first, propagates
 * Teaches: one SIGCHLD may stand for several exits, so a handler reaps
 * until nothing is left.
 */
export function reapChildren(): WaitStatus[] {
  const out: WaitStatus[] = [];
  const forked = forkedSet();
  for (const pid of [...forked]) {
    let s: WaitStatus;
    try {
      s = waitpid(pid, WNOHANG);
    } catch (err) {
      // Reaped elsewhere (a waitpid(-1)): nothing left to collect.
      if ((err as { code?: string }).code === 'ECHILD') forked.delete(pid);
      else throw err;
      continue;
    }
    if (s.pid !== 0) out.push(s);
  }
  return out;
}

/** Options of {@link fork}. */
export interface ForkOptions {
  /** Signals (names or numbers) the child ignores from its first instruction. */
  ignoreSignals?: (string | number)[];
}

/**
 * The pids this process forked that have not been reaped. Never throws.
 * Teaches: a child that exited but was not waited for is still a process, a zombie.
 */
export function forkedChildren(): number[] {
  return [...forkedSet()];
}

/**
 * kill(2): sends a signal (name or number; 0 only checks the pid exists).
 * A `pid` of 0 or below signals a process group (-1: every process it may).
 * @throws ProcessLookupError (ESRCH), PermissionError (EPERM);
 *   TypeError/RangeError naming `pid` or "signal"
 * Teaches: kill(2) only delivers a signal; what happens then is the receiver's disposition.
 */
export function kill(pid: number, sig: string | number = 'SIGTERM'): void {
  checkInt(pid, 'pid', -(2 ** 31) + 1, 2 ** 31 - 1);
  const signo = signalNumber(sig, 'signal', true);
  sys(
    'kill',
    () => `${pid}, ${signo === 0 ? 0 : signalName(signo)}`,
    () => native.kill(pid, signo),
  );
}

void describe;
