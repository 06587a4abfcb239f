/**
 * prctl(2): the two process attributes a server's processes set, the signal
 * a child gets when its parent dies, and reaping a tree's orphans.
 */
import { native } from '../addon.ts';
import { signalName, toSignalNumber } from '../signals/names.ts';
import { traced, untraced } from '../trace.ts';
import { checkBool } from '../validate.ts';
import { beforeFirstFork } from './fork.ts';
import { getppid } from './self.ts';

/**
 * prctl(2) PR_SET_PDEATHSIG: this process gets `sig` (a name or number; 0
 * for none) when the thread that forked it ends, its parent dying included.
 * Set it first thing in a forked child, then check getppid(): a parent that
 * died before the call is not noticed by it.
 * @throws TypeError/RangeError naming `signal`; PosixError (EINVAL)
 * Teaches: a child learns of its parent's death only if it asks to.
 */
export function setParentDeathSignal(sig: string | number): void {
  setDeathSignal(toSignalNumber(sig, 'signal', true));
}

function setDeathSignal(signo: number): void {
  traced(
    'prctl',
    () => `PR_SET_PDEATHSIG, ${signo === 0 ? 0 : signalName(signo)}`,
    () => native.setParentDeathSignal(signo),
  );
}

// A call for forked children, which their parent seldom makes itself: V8
// would compile it afresh in every child (and a child that compiles
// anything at all faults in the compiler's code). So the parent runs it
// once before its first fork, on a signal number the addon refuses before
// any system call, and getppid(), the check that goes with it, too.
beforeFirstFork(() => {
  untraced(() => {
    try {
      setDeathSignal(-1);
    } catch {
      // RangeError, as intended
    }
  });
  getppid();
});

/**
 * prctl(2) PR_SET_CHILD_SUBREAPER: descendants orphaned below this process
 * are re-parented to it instead of init, so it can reap them with waitpid(2).
 * @throws PosixError (EINVAL); TypeError naming `on`
 * Teaches: what init does for every orphan, a service manager does for its own.
 */
export function setChildSubreaper(on: boolean): void {
  checkBool(on, 'on');
  traced(
    'prctl',
    () => `PR_SET_CHILD_SUBREAPER, ${on ? 1 : 0}`,
    () => native.setChildSubreaper(on),
  );
}
