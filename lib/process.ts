/**
 * fork(2), waitpid(2), kill(2) and _exit(2), made safe in a Node process.
 * See docs/fork-in-node.md for what breaks when Node forks and what this
 * module does about each hazard.
 */
import { isMainThread } from 'node:worker_threads';
import * as util from 'node:util';
import { C, native, type NativeWaitStatus } from './native';
import { blocking, settings, signalName, sys, type BlockingOptions } from './runtime';
import { forgetSignalHandlers, signalNumber } from './signals';
import { checkInt, checkOptions, checkBool, describe } from './validate';

/** waitpid(2) option bits. */
export const WNOHANG = C.WNOHANG;
export const WUNTRACED = C.WUNTRACED;
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

/** The pids this process forked and has not reaped yet. */
const forked = new Set<number>();

let warnedThreads = false;
function warnIfThreaded(): void {
  if (warnedThreads || process.execArgv.includes('--single-threaded')) return;
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
 * @throws Error from a worker thread; PosixError (EAGAIN, ENOMEM) when the
 *   kernel refuses
 * Teaches: fork(2) returns twice, and everything, fds included, is copied.
 */
export function fork(): number {
  if (!isMainThread) throw new Error('fork() may only be called from the main thread, not a worker thread');
  warnIfThreaded();
  const pid = sys(
    'fork',
    () => '',
    () => native.fork(),
  );
  if (pid === 0) becomeChild();
  else forked.add(pid);
  return pid;
}

let forkedChild = false;

/** True in a process that this package forked. */
export function isForkedChild(): boolean {
  return forkedChild;
}

function becomeChild(): void {
  forkedChild = true;
  forked.clear();
  forgetSignalHandlers();
  installChildExits();
}

/**
 * _exit(2): ends the process at once with `code`, running no 'exit'
 * listeners and no Node teardown. The way out of a forked child.
 */
export function _exit(code = 0): never {
  checkInt(code, 'code', 0, 255);
  if (forkedChild) flushStdio();
  return native._exit(code);
}

function flushStdio(): void {
  // process.stdout/stderr write synchronously to files, pipes and TTYs on
  // Linux, so nothing is buffered in JavaScript; this is the place to drain
  // anything that ever is.
}

let fatal: { err: unknown } | undefined;

// In the child, Node's own teardown would join threads that only exist in
// the parent, and hang or crash. Every exit path is routed to _exit(2).
function installChildExits(): void {
  const proc = process as unknown as { reallyExit: (code?: number) => void };
  proc.reallyExit = (code?: number) => native._exit((code ?? Number(process.exitCode ?? 0)) & 0xff);
  // An uncaught exception emits 'exit' and then has C++ print it and tear
  // down: print it here, run the remaining 'exit' listeners, and leave.
  process.on('uncaughtExceptionMonitor', (err) => {
    if (process.listenerCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback())
      fatal = { err };
  });
  const onExit = (code: number): void => {
    if (!fatal) return;
    const later = process.listeners('exit').slice(process.listeners('exit').indexOf(onExit) + 1);
    for (const l of later) (l as (c: number) => void)(code);
    const text = fatal.err instanceof Error && fatal.err.stack ? fatal.err.stack : util.inspect(fatal.err);
    process.stderr.write(`Uncaught ${text}\n\nNode.js ${process.version}\n`);
    native._exit(code & 0xff);
  };
  process.on('exit', onExit);
  // When the event loop runs dry Node would wait for V8 tasks that died with
  // the fork; the addon notices first and we end the child as Node would:
  // 'beforeExit', then process.exit with the exit code.
  let sawBeforeExit = false;
  settings.onDrain = () => {
    if (!sawBeforeExit && process.listenerCount('beforeExit') > 0) {
      sawBeforeExit = true;
      process.emit('beforeExit', Number(process.exitCode ?? 0));
      return;
    }
    process.exit();
  };
  native.watchLoopDrain();
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
    return { flags: checkInt(options, 'options', 0, WNOHANG | WUNTRACED | WCONTINUED), o: {} };
  const o = checkOptions(options) as WaitOptions;
  let flags = 0;
  if (o.nohang !== undefined && checkBool(o.nohang, 'options.nohang')) flags |= WNOHANG;
  if (o.untraced !== undefined && checkBool(o.untraced, 'options.untraced')) flags |= WUNTRACED;
  if (o.continued !== undefined && checkBool(o.continued, 'options.continued')) flags |= WCONTINUED;
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
  if (r.pid > 0 && (r.kind === 'exited' || r.kind === 'signaled')) forked.delete(r.pid);
  return decode(r);
}

/** wait(2): waits for any child; the same as `waitpid(-1)`. */
export function wait(options?: Pick<BlockingOptions, 'onInterrupt'>): WaitStatus {
  return waitpid(-1, options);
}

/**
 * Reaps, without blocking, every child that this package forked and that
 * has exited, leaving child_process's children to Node. Returns their
 * statuses. The safe reaper for a SIGCHLD handler in a process that also
 * uses child_process.
 */
export function reapChildren(): WaitStatus[] {
  const out: WaitStatus[] = [];
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

/** The pids this process forked that have not been reaped. */
export function forkedChildren(): number[] {
  return [...forked];
}

/**
 * kill(2): sends a signal (name or number; 0 only checks the pid exists).
 * @throws ProcessLookupError (ESRCH), PermissionError (EPERM)
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
