/**
 * The addon, set up for this environment: setup() hands it the error
 * factory and the hooks it calls from the event loop, and returns the
 * "signal pending" word. Every module that calls the addon imports it from
 * here, so the hooks are in place before the first call.
 */
import { makeError } from './errors.ts';
import { native } from './native.ts';

export { C, native } from './native.ts';

// The addon calls these from the event loop. Each owner registers its own;
// an exception goes to Node's uncaught-exception machinery, as a throw from
// any callback would.
const loopHooks = { signal: (): void => {}, drain: (): void => {} };
function fromLoop(hook: keyof typeof loopHooks): () => void {
  return () => {
    try {
      loopHooks[hook]();
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  };
}

/** Runs `fn` when the idle event loop sees a handled signal pending. */
export function onLoopSignal(fn: () => void): void {
  loopHooks.signal = fn;
}

/** Runs `fn` when a forked child's event loop runs dry (see watchLoopDrain). */
export function onLoopDrain(fn: () => void): void {
  loopHooks.drain = fn;
}

/** Non-zero while a handled signal waits for its JavaScript handler (always 0 in a worker). */
export const pendingWord = native.setup(makeError, fromLoop('signal'), fromLoop('drain'));
