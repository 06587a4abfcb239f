/**
 * kill(2): sending a signal to a process or a process group.
 */
import { native } from '../addon.ts';
import { traced } from '../trace.ts';
import { checkInt } from '../validate.ts';
import { signalName, toSignalNumber } from './names.ts';

/**
 * kill(2): sends a signal (name or number; 0 only checks the pid exists).
 * A `pid` of 0 or below signals a process group (-1: every process it may).
 * @throws ProcessLookupError (ESRCH), PermissionError (EPERM);
 *   TypeError/RangeError naming `pid` or "signal"
 * Teaches: kill(2) only delivers a signal; what happens then is the receiver's disposition.
 */
export function kill(pid: number, sig: string | number = 'SIGTERM'): void {
  checkInt(pid, 'pid', -(2 ** 31) + 1, 2 ** 31 - 1);
  const signo = toSignalNumber(sig, 'signal', true);
  traced(
    'kill',
    () => `${pid}, ${signo === 0 ? 0 : signalName(signo)}`,
    () => native.kill(pid, signo),
  );
}
