/**
 * Who this process is: its pid (cached until the next fork), whether this
 * package forked it, and state that belongs to one process. A forked child
 * only clears the cached pid (one store); whatever depends on the pid
 * notices on its next use. Work in the child's first instructions is
 * expensive (each function is compiled afresh and each page written is
 * copied), so it is kept to that.
 */
import { native } from '../addon.ts';

let cachedPid = 0;
let forked = false;

/** This process's pid (getpid(2), cached until the next fork). Not exported from the package. */
export function currentPid(): number {
  return cachedPid || (cachedPid = native.getpid());
}

const childStartHooks: (() => void)[] = [];

/**
 * Runs `fn` in every child this package forks, right after fork(2), for
 * state that must not outlive the fork (the promise API's watches and
 * pidfds). Kept short: it runs in the child's first instructions. Not
 * exported from the package.
 */
export function onForkedChildStart(fn: () => void): void {
  childStartHooks.push(fn);
}

/**
 * {@link onForkedChildStart} for state a process may never have: `fn` is
 * registered the first time the returned function is called (call it where
 * the state is first made). A child of a process that never made it runs
 * nothing, and compiles nothing: each page a child writes is a copy, and
 * code it runs for the first time is compiled, and written, in the child.
 * Not exported from the package.
 */
export function onForkedChildStartOnceUsed(fn: () => void): () => void {
  let registered = false;
  return () => {
    if (registered) return;
    registered = true;
    childStartHooks.push(fn);
  };
}

/**
 * Called in the child right after fork(2) returned 0 there. With
 * `rehearsal` true it does nothing: fork() calls it so in the parent before
 * the first fork, so that children find it compiled (V8 compiles a function
 * when it first runs; what only children run is compiled again in each).
 * Not exported from the package.
 */
export function becomeForkedChild(rehearsal = false): void {
  if (rehearsal) return;
  forked = true;
  cachedPid = 0;
  for (const fn of childStartHooks) fn();
}

/**
 * True in a process that this package forked (fork(2) returned 0 there). Never throws.
 * Teaches: after fork(2) parent and child run the same code; only fork's return value tells them apart.
 */
export function isForkedChild(): boolean {
  return forked;
}

/**
 * State owned by one process: returns a getter that gives the value `make`
 * built in this process, and builds a fresh one the first time a forked
 * child asks (the parent's copy is left behind). Not exported from the
 * package.
 */
export function perProcess<T>(make: () => T): () => T {
  let owner = 0;
  let value: T;
  return () => {
    const me = currentPid();
    if (owner !== me) {
      value = make();
      owner = me;
    }
    return value;
  };
}

/**
 * getpid(2): this process's id (a forked child sees its own). Never fails.
 * Teaches: after fork(2) the same code runs in two processes; the pid tells them apart.
 */
export function getpid(): number {
  return native.getpid();
}

/**
 * getppid(2): the parent's pid; 1 (or a subreaper) once the parent has exited. Never fails.
 * Teaches: an orphan is adopted by init (or a subreaper), which then reaps it.
 */
export function getppid(): number {
  return native.getppid();
}
