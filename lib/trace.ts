/**
 * The syscall trace: every call of this package printed as strace would,
 * `[pid 4242] accept(3) = 5 (127.0.0.1:51234)`, failures as
 * `= -1 EINTR (Interrupted system call)`. Off by default; on with the
 * environment variable WTF_TRACE=1 or {@link setTrace}. When off, each
 * call pays one boolean test. Every public call that reaches the kernel
 * goes through {@link traced}.
 */
import * as fs from 'node:fs';
import { errnoMessage, type PosixError } from './errors.ts';
import { currentPid } from './process/self.ts';
import { ArgTypeError } from './validate.ts';

let on = /^(1|true|yes|on)$/i.test(process.env.WTF_TRACE ?? '');
let write = (line: string): void => {
  fs.writeSync(2, line + '\n');
};

/**
 * Turns the trace on or off. `write` receives each line (without newline);
 * by default lines go to stderr with a synchronous write, so a child's
 * lines are never lost when it leaves through _exit(2).
 * @throws TypeError naming `on` or `write`
 * Teaches: strace(1) shows a program as the system calls it makes; this is that view from inside.
 */
export function setTrace(enabled: boolean, writer?: (line: string) => void): void {
  if (typeof enabled !== 'boolean') throw new ArgTypeError('The "on" argument must be of type boolean');
  if (writer !== undefined && typeof writer !== 'function')
    throw new ArgTypeError('The "write" argument must be a function');
  on = enabled;
  if (writer) write = writer;
}

/**
 * Whether the trace is on. Never throws.
 * Teaches: strace(1) shows the same calls from outside, stopping the
 * process at each one with ptrace(2).
 */
export function isTracing(): boolean {
  return on;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Runs `fn` with the trace off, then puts it back as it was: for the work a
 * parent does before a fork so that its children need not, which is not
 * the program's own. Not exported from the package.
 */
export function untraced<T>(fn: () => T): T {
  const tracing = on;
  on = false;
  try {
    return fn();
  } finally {
    on = tracing;
  }
}

/**
 * Runs one system call, and when the trace is on prints it as strace would:
 * `[pid 4242] accept(3) = 5 (127.0.0.1:51234)` or
 * `[pid 4242] accept(3) = -1 EINTR (Interrupted system call)`.
 * Not exported from the package.
 */
export function traced<T>(name: string, args: () => string, call: () => T, result?: (r: T) => string): T {
  if (!on) return call();
  try {
    const r = call();
    const shown = result ? result(r) : r === undefined ? '0' : String(r);
    write(`[pid ${currentPid()}] ${name}(${args()}) = ${shown}`);
    return r;
  } catch (err) {
    const e = err as PosixError;
    if (typeof e?.errno === 'number' && typeof e.code === 'string') {
      write(`[pid ${currentPid()}] ${name}(${args()}) = -1 ${e.code} (${capitalize(errnoMessage(e.errno))})`);
    } else {
      write(`[pid ${currentPid()}] ${name}(${args()}) threw ${String(err)}`);
    }
    throw err;
  }
}
