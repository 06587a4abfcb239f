/**
 * What the promise API shares: its options ({ signal, timeoutMs }), checked
 * the way the blocking calls check theirs, and Node's own AbortError.
 */
import { EventEmitter, on } from 'node:events';
import { checkBlockingOptions, type BlockingOptions } from '../blocking.ts';
import { ArgTypeError, describe } from '../validate.ts';

/** The options every promise of this package takes, besides the blocking call's own. */
export interface AsyncOptions {
  /** Rejects the call with an AbortError when aborted; the fd stays usable. */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait at most; by default the socket's SO_RCVTIMEO or
   * SO_SNDTIMEO, else forever. When it passes the call rejects with
   * TimeoutError, as the blocking call throws it.
   */
  timeoutMs?: number;
}

// Node's AbortError class (what fs/promises and timers/promises reject
// with) is not exported; events.on() throws one at once for a signal that
// is already aborted.
type AbortErrorClass = new (message?: string, options?: { cause?: unknown }) => Error;
const NodeAbortError: AbortErrorClass = (() => {
  try {
    on(new EventEmitter(), 'never', { signal: AbortSignal.abort() });
  } catch (err) {
    if ((err as Error).name === 'AbortError') return (err as Error).constructor as AbortErrorClass;
  }
  return class AbortError extends Error {
    readonly code = 'ABORT_ERR';
    constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
      super(message, options);
      this.name = 'AbortError';
    }
  };
})();

/**
 * The error an aborted call rejects with: Node's AbortError (`name`
 * 'AbortError', `code` 'ABORT_ERR'), the signal's reason as its `cause`.
 * Not exported from the package.
 */
export function abortError(signal: AbortSignal): Error {
  return new NodeAbortError(undefined, { cause: signal.reason });
}

/**
 * Checks the options of a promise: the blocking call's (onInterrupt is
 * accepted and means nothing here: nothing interrupts a promise), plus
 * `signal`. Not exported from the package.
 */
export function checkAsyncOptions<T extends BlockingOptions & AsyncOptions>(options: T | undefined): T {
  const o = checkBlockingOptions(options);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new ArgTypeError(`The "options.signal" property must be an AbortSignal, received ${describe(o.signal)}`);
  return o;
}
