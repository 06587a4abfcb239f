/**
 * execve(2), execSingleThreaded() and _exit(2): the ways a process replaces
 * its program or ends at once.
 */
import { native } from '../addon.ts';
import { traced } from '../trace.ts';
import { ArgTypeError, checkInt, checkOptions, describe } from '../validate.ts';

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
  return traced(
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
 * @throws Error when node runs code it cannot run again (node -e, node -p,
 *   node -, the REPL); as {@link execve} when execve(2) fails
 * Teaches: execve(2) keeps the process (its pid and open fds) and replaces only the program.
 */
export function execSingleThreaded(): void {
  if (process.execArgv.some((a) => /^--single[-_]threaded$/.test(a))) return;
  const script = process.argv[1];
  const inline = process.execArgv.some((a) => /^(-e|--eval|-p|--print)(=|$)/.test(a));
  if (inline || script === undefined || script === '-')
    throw new Error(
      'execSingleThreaded() cannot restart this program: node runs code given inline, on stdin or in the ' +
        'REPL (node -e, node -p, node -, node), which it cannot run again. Start node with --single-threaded ' +
        'instead, or put the program in a file.',
    );
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
