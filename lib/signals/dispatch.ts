/**
 * Where a signal's JavaScript handler runs: the table of handlers this
 * package installed, and the code that takes the pending signals from the
 * addon and runs their handlers on the main thread, from a blocking call
 * that a signal interrupted or from the idle event loop. The C handler
 * (native/posix/signals.cc) only records the signal.
 */
import { native, onLoopSignal, pendingWord } from '../addon.ts';
import { perProcess } from '../process/self.ts';
import { signalName } from './names.ts';

/**
 * A JavaScript signal handler: gets the signal's name and number, and how
 * many times the C handler caught it since the handler last ran (at least
 * 1; the kernel merges a signal sent while the same one is still pending,
 * so this counts deliveries, which may be fewer than the signals sent).
 */
export type SignalHandler = (signal: string, signo: number, count: number) => void;

interface Installed {
  handler: SignalHandler;
  restart: boolean;
}

// The handlers this process runs, by signal number. A forked child starts
// with an empty table (the addon put its dispositions back).
const handlers = perProcess(() => new Map<number, Installed>());

// What this package itself listens for, whatever the user's disposition:
// the promise waitpid(-1) hears of exits through SIGCHLD. A forked child
// starts with none.
const watchers = perProcess(() => new Map<number, Set<() => void>>());

/**
 * Calls `fn` from now on each time `signo` is taken, before the handler of
 * the user (if any); the returned function stops it. Returns whether it is
 * the first for that signal. `fn` never throws. Not exported from the package.
 */
export function addWatcher(signo: number, fn: () => void): { first: boolean; stop: () => boolean } {
  const table = watchers();
  let set = table.get(signo);
  const first = !set;
  if (!set) table.set(signo, (set = new Set()));
  set.add(fn);
  const mine = set;
  return {
    first,
    // Returns whether it was the last for that signal.
    stop: () => {
      if (!mine.delete(fn) || mine.size > 0) return false;
      if (table.get(signo) === mine) table.delete(signo);
      return true;
    },
  };
}

/** Whether this package listens for `signo` itself. Not exported from the package. */
export function isWatched(signo: number): boolean {
  return (watchers().get(signo)?.size ?? 0) > 0;
}

/** Makes `handler` the one run for `signo`. Not exported from the package. */
export function setHandler(signo: number, handler: SignalHandler, restart: boolean): void {
  handlers().set(signo, { handler, restart });
}

/** Forgets the handler of `signo`. Not exported from the package. */
export function clearHandler(signo: number): void {
  handlers().delete(signo);
}

/** Whether any JavaScript handler is installed. Not exported from the package. */
export function hasHandlers(): boolean {
  return handlers().size > 0;
}

/** Forgets every handler. Not exported from the package. */
export function clearHandlers(): void {
  handlers().clear();
}

/** True while a handled signal waits for its JavaScript handler. Not exported from the package. */
export function signalsPending(): boolean {
  return pendingWord[0] !== 0;
}

/**
 * Runs the handler of every pending signal, once per signal however often
 * it arrived (POSIX lets identical pending signals coalesce). Returns the
 * signals taken. Blocking calls of this package and the idle event loop
 * run them by themselves; this is for a busy loop that does neither.
 * @throws the first error a handler threw, after all of them ran
 * Teaches: standard signals do not queue (signal(7)): two SIGCHLDs that
 * arrive before the handler runs are one call, so the handler must reap
 * every child that is ready, not just one.
 */
export function runPendingSignalHandlers(): number[] {
  return takeAndRun().taken;
}

/**
 * Takes the pending signals and runs their handlers. `restart` says whether
 * an interrupted call may start again on its own: every signal taken was
 * installed with `restart` (or has no JavaScript handler, so nothing asked
 * for EINTR). It is decided before the handlers run, since a one-shot
 * handler uninstalls itself. Not exported from the package.
 */
export function takeAndRun(): { taken: number[]; restart: boolean } {
  const pairs = native.takeSignals();
  const taken: number[] = [];
  const caught = new Map<number, number>();
  for (let i = 0; i < pairs.length; i += 2) {
    taken.push(pairs[i]);
    caught.set(pairs[i], pairs[i + 1]);
  }
  for (const signo of taken) {
    const those = watchers().get(signo);
    // A copy: a watcher may remove itself (or another) while they run.
    if (those !== undefined && those.size > 0) for (const fn of [...those]) fn();
  }
  const table = handlers();
  const run: { signo: number; h: Installed }[] = [];
  let restart = true;
  for (const signo of taken) {
    const h = table.get(signo);
    if (!h) continue;
    run.push({ signo, h });
    if (!h.restart) restart = false;
  }
  let failure: { err: unknown } | undefined;
  for (const { signo, h } of run) {
    try {
      h.handler(signalName(signo), signo, caught.get(signo) ?? 1);
    } catch (err) {
      failure ??= { err };
    }
  }
  if (failure) throw failure.err;
  return { taken, restart };
}

// The idle event loop saw the wake fd: the main thread is idle, so run the
// handlers now.
onLoopSignal(runPendingSignalHandlers);
