/**
 * What happens before this package closes a fd: owners of the fd (node:net
 * after a hand-off) may refuse, and holders of per-fd state (the promise
 * API's readiness watch) let go of it first. `close()` and `dup2()` call
 * {@link beforeClose}; nothing here is exported from the package.
 */

type Hook = (fd: number, syscall: string) => void;

const refusers: Hook[] = [];
const releasers: Hook[] = [];

/** `hook` throws to keep this package from closing a fd it does not own. */
export function refuseClose(hook: Hook): void {
  refusers.push(hook);
}

/** `hook` lets go of what it holds for a fd about to be closed. */
export function releaseOnClose(hook: Hook): void {
  releasers.push(hook);
}

/** Lets go of the per-fd state of `fd` without closing it (the fd changes owner). */
export function releaseFd(fd: number, syscall = 'close'): void {
  for (const h of releasers) h(fd, syscall);
}

/** Runs before close(2) (or dup2(2) onto `fd`): first the refusals, then the releases. */
export function beforeClose(fd: number, syscall = 'close'): void {
  for (const h of refusers) h(fd, syscall);
  for (const h of releasers) h(fd, syscall);
}
