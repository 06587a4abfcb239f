/**
 * Who this process is: its pid (cached until the next fork), whether this
 * package forked it, and state that belongs to one process. A forked child
 * only clears the cached pid (one store); whatever depends on the pid
 * notices on its next use. Work in the child's first instructions is
 * expensive (each function is compiled afresh and each page written is
 * copied), so it is kept to that.
 */
import { native } from '../addon';
import { signalName, signalNumber } from '../signals/names';
import { traced } from '../trace';

let cachedPid = 0;
let forked = false;

/** This process's pid (getpid(2), cached until the next fork). Not exported from the package. */
export function currentPid(): number {
  return cachedPid || (cachedPid = native.getpid());
}

/** Called in the child right after fork(2) returned 0 there. Not exported from the package. */
export function becomeForkedChild(): void {
  forked = true;
  cachedPid = 0;
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

/**
 * prctl(2) PR_SET_PDEATHSIG: asks the kernel to send this process `sig`
 * (a name or number; 0 clears it) when its parent dies, however it dies,
 * SIGKILL included. The setting is per child: fork(2) clears it in a new
 * child, execve(2) keeps it. Call it in a forked child, then compare
 * {@link getppid} with the parent's pid: a parent that died before the
 * call sends nothing.
 * @throws RangeError/TypeError naming "signal" for an unknown signal;
 *   PosixError (EINVAL) if the kernel refuses
 * Teaches: a worker need not poll to notice that its master is gone; the
 *   kernel can tell it, which is how a prefork master avoids orphans.
 */
export function setParentDeathSignal(sig: string | number): void {
  const signo = signalNumber(sig, 'signal', true);
  traced(
    'prctl',
    () => `PR_SET_PDEATHSIG, ${signo === 0 ? 0 : signalName(signo)}`,
    () => native.setPdeathsig(signo),
  );
}
