/**
 * The syscall trace: every call of this package printed as strace would,
 * `[pid 4242] accept(3) = 5 (127.0.0.1:51234)`, failures as
 * `= -1 EINTR (Interrupted system call)`. Off by default; on with the
 * environment variable WTF_TRACE=1 or {@link setTrace}. When off, each
 * call pays one boolean test.
 */
import { trace } from './runtime';
import { ArgTypeError } from './validate';

/**
 * Turns the trace on or off. `write` receives each line (without newline);
 * by default lines go to stderr with a synchronous write, so a child's
 * lines are never lost when it leaves through _exit(2).
 * @throws TypeError naming `on` or `write`
 * Teaches: strace(1) shows a program as the system calls it makes; this is that view from inside.
 */
export function setTrace(on: boolean, write?: (line: string) => void): void {
  if (typeof on !== 'boolean') throw new ArgTypeError('The "on" argument must be of type boolean');
  if (write !== undefined && typeof write !== 'function')
    throw new ArgTypeError('The "write" argument must be a function');
  trace.on = on;
  if (write) trace.write = write;
}

/**
 * Whether the trace is on. Never throws.
 * Teaches: strace(1) shows the same calls from outside, stopping the
 * process at each one with ptrace(2).
 */
export function isTracing(): boolean {
  return trace.on;
}
