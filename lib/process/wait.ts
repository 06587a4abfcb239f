/**
 * waitpid(2) and wait(2), decoded, and the bookkeeping of the children this
 * package forked, so that a SIGCHLD handler can reap them without touching
 * child_process's children.
 */
import { C, native } from '../addon.ts';
import type { NativeWaitStatus } from '../native.ts';
import { blocking, type BlockingOptions } from '../blocking.ts';
import { signalName } from '../signals/names.ts';
import { traced } from '../trace.ts';
import { checkBool, checkFlags, checkInt, checkInterruptPolicy, checkOptions } from '../validate.ts';
import { perProcess } from './self.ts';

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

// The pids this process forked and has not reaped yet. A forked child
// starts with an empty set, made on its first use.
const forked = perProcess(() => new Set<number>());

/** Records a child fork() just made. Not exported from the package. */
export function addForkedChild(pid: number): void {
  forked().add(pid);
}

/**
 * Forgets a child that was reaped elsewhere (waitpid reported ECHILD for
 * it). Not exported from the package.
 */
export function forgetForkedChild(pid: number): void {
  forked().delete(pid);
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
  const r = traced(
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
  if (r.pid > 0 && (r.kind === 'exited' || r.kind === 'signaled')) forked().delete(r.pid);
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
  const pids = forked();
  for (const pid of [...pids]) {
    let s: WaitStatus;
    try {
      s = waitpid(pid, WNOHANG);
    } catch (err) {
      // Reaped elsewhere (a waitpid(-1)): nothing left to collect.
      if ((err as { code?: string }).code === 'ECHILD') pids.delete(pid);
      else throw err;
      continue;
    }
    if (s.pid !== 0) out.push(s);
  }
  return out;
}

/**
 * The pids this process forked that have not been reaped. Never throws.
 * Teaches: a child that exited but was not waited for is still a process, a zombie.
 */
export function forkedChildren(): number[] {
  return [...forked()];
}
