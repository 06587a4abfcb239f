/**
 * fork(2), made safe in a Node process: the one native call that does the
 * whole sequence (native/posix/fork.cc, the child's set-up in
 * native/binding/process.cc), and the JavaScript side of the child's exits.
 * See docs/fork-in-node.md for what breaks when Node forks and what this
 * module does about each hazard.
 */
import { isMainThread } from 'node:worker_threads';
import * as util from 'node:util';
import { C, native, onLoopDrain } from '../addon.ts';
import { signalName, signals, toSignalNumber } from '../signals/names.ts';
import { traced } from '../trace.ts';
import { ArgTypeError, ArgValueError, checkBool, checkOptions, describe } from '../validate.ts';
import { _exit } from './exec.ts';
import { becomeForkedChild, currentPid, isForkedChild } from './self.ts';
import { addForkedChild } from './wait.ts';

// Work done in the parent before a fork so that each child need not (see
// the socket path rehearsal in lib/sockets/rehearsal.ts).
const preparations: (() => void)[] = [];

/** Runs `prepare` in the parent before each fork. Not exported from the package. */
export function beforeFork(prepare: () => void): void {
  preparations.push(prepare);
}

const firstForkPreparations: (() => void)[] = [];

/**
 * Runs `prepare` in the parent once, before its first fork (for what costs
 * nothing to keep, such as compiled code). Not exported from the package.
 */
export function beforeFirstFork(prepare: () => void): void {
  firstForkPreparations.push(prepare);
}

/**
 * Thrown by {@link fork} in a node started without `--single-threaded`
 * (`code` 'WTF_NOT_SINGLE_THREADED'), unless the caller passed
 * `{ allowThreads: true }`.
 * Teaches: fork(2) copies only the calling thread; a lock another thread
 * held stays locked for ever in the child.
 */
export class NotSingleThreadedError extends Error {
  readonly code = 'WTF_NOT_SINGLE_THREADED';
  constructor() {
    super(
      'fork() refused: node runs without --single-threaded, so V8 has background threads that do not exist ' +
        'in a forked child, and a child that compiles or collects garbage can hang for ever. ' +
        'Add execSingleThreaded() as the first line of the program (it restarts node with the flag), ' +
        'or start node with --single-threaded; to fork anyway, pass fork({ allowThreads: true }) ' +
        '(see docs/fork-in-node.md).',
    );
  }
}
Object.defineProperty(NotSingleThreadedError.prototype, 'name', { value: 'NotSingleThreadedError' });

let singleThreaded: boolean | undefined;

/**
 * Whether node was started with --single-threaded (a flag that cannot be
 * changed once node runs: asked once). Not exported from the package.
 */
export function isSingleThreaded(): boolean {
  return (singleThreaded ??= process.execArgv.some((a) => /^--single[-_]threaded$/.test(a)));
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
 * @throws NotSingleThreadedError when node runs without `--single-threaded`
 *   (see `options.allowThreads`); Error from a worker thread;
 *   TypeError/RangeError for bad options;
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
      const n = toSignalNumber(sig, 'options.ignoreSignals');
      if (n === signals.SIGKILL || n === signals.SIGSTOP) throw new ArgValueError(`${signalName(n)} cannot be ignored`);
      return n;
    });
  }
  if (o.allowThreads !== undefined) checkBool(o.allowThreads, 'options.allowThreads');
  if (o.allowThreads !== true && !isSingleThreaded()) throw new NotSingleThreadedError();
  prepareChildExits();
  for (const prepare of preparations) prepare();
  const pid = traced(
    'fork',
    () => '',
    () => {
      const r = native.fork(ignore);
      // The child: two stores. Everything else is ready or done lazily.
      if (r === 0) becomeForkedChild();
      return r;
    },
  );
  if (pid !== 0) addForkedChild(pid);
  return pid;
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
// do nothing there (they test isForkedChild()); the child inherits them
// ready.
function prepareChildExits(): void {
  if (!exitsPrepared) {
    exitsPrepared = true;
    becomeForkedChild(true);
    for (const prepare of firstForkPreparations) prepare();
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
      if (isForkedChild()) native._exit((code ?? Number(process.exitCode ?? 0)) & 0xff);
      return reallyExit.call(this, code);
    };
    // An uncaught exception (or an unhandled rejection, which Node turns
    // into one) that no listener handles makes Node emit 'exit' with status
    // 1, and then C++ prints the error and tears down: print it here, run
    // the 'exit' listeners that come after ours, and leave.
    process.on('uncaughtExceptionMonitor', (err) => {
      if (
        isForkedChild() &&
        process.listenerCount('uncaughtException') === 0 &&
        !process.hasUncaughtExceptionCaptureCallback()
      )
        fatal = { err };
    });
    const onExit = (code: number): void => {
      if (!isForkedChild() || !fatal) return;
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
    onLoopDrain(() => {
      if (phase[0] === C.DRAIN_BEFORE_EXIT) process.emit('beforeExit', Number(process.exitCode ?? 0));
      else if (phase[0] === C.DRAIN_EXIT) process.exit();
    });
  }
}

/** Options of {@link fork}. */
export interface ForkOptions {
  /** Signals (names or numbers) the child ignores from its first instruction. */
  ignoreSignals?: (string | number)[];
  /**
   * Fork even though node runs without `--single-threaded`, accepting that
   * a child may hang on a lock held by a V8 thread it does not have.
   * Default false: such a fork throws {@link NotSingleThreadedError}.
   */
  allowThreads?: boolean;
}
