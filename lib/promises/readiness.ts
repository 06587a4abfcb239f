/**
 * Readiness from the event loop: a call of the promise API that would have
 * to wait registers here and gets a Promise that settles when libuv says
 * its fd is ready (one uv_poll_t per fd, native/binding/poll.cc), when its
 * signal aborts, when its deadline passes, or when the fd is closed through
 * this package. Nothing here blocks, spins or polls on a timer.
 */
import { C, native } from '../addon.ts';
import { makeError, errnoNumber } from '../errors.ts';
import { onForkedChildStartOnceUsed } from '../process/self.ts';
import { releaseOnClose } from '../sockets/closing.ts';
import { abortError, type AsyncOptions } from './abort.ts';

/** Waiting for bytes to read (or a connection to accept, or a child to exit). */
export const READABLE = C.POLL_READABLE;
/** Waiting for room to write (or a handshake to finish). */
export const WRITABLE = C.POLL_WRITABLE;

const EBADF = errnoNumber('EBADF') as number;

interface Watch {
  /** The calls waiting on this fd. */
  waiting: Set<Call>;
  /** The events the native watch is started for; 0 when stopped. */
  events: number;
}

// The fds this environment watches. A forked child inherits the table with
// the handles (uv_loop_fork keeps them), so it is not rebuilt per process.
const watches = new Map<number, Watch>();
let narrowing = false;

/**
 * One call of the promise API, from its start to its end: its fd, its
 * deadline and its abort signal, and the wait in progress if any.
 * Not exported from the package.
 */
export class Call {
  events = 0;
  private settle?: { resolve: () => void; reject: (err: Error) => void };
  private failure?: Error;
  private timer?: NodeJS.Timeout;
  private armed = false;
  private readonly deadline?: number;
  private readonly onAbort = (): void => this.fail(abortError(this.options.signal as AbortSignal));

  /**
   * @param timeoutError the error a passed deadline rejects with
   * @param defaultTimeoutMs asked at the first wait when no timeoutMs was
   *   given (the socket's SO_RCVTIMEO / SO_SNDTIMEO): > 0 sets a deadline
   */
  readonly fd: number;
  readonly syscall: string;
  private readonly options: AsyncOptions;
  private readonly timeoutError: () => Error;
  private readonly defaultTimeoutMs: () => number;

  constructor(
    fd: number,
    syscall: string,
    options: AsyncOptions,
    timeoutError: () => Error,
    defaultTimeoutMs: () => number = () => -1,
  ) {
    this.fd = fd;
    this.syscall = syscall;
    this.options = options;
    this.timeoutError = timeoutError;
    this.defaultTimeoutMs = defaultTimeoutMs;
    if (options.signal?.aborted) throw abortError(options.signal);
    if (options.timeoutMs !== undefined) this.deadline = performance.now() + options.timeoutMs;
  }

  /** Settles when the fd is ready for `events`; rejects on abort, deadline or close. */
  wait(events: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.armed) this.arm();
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.events = events;
      watchFor(this);
    });
  }

  /** Ends the call: its timer and abort listener go. Call it in a finally. */
  end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.timer = undefined;
  }

  /** Rejects the wait in progress (or the next one) with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    const s = this.settle;
    if (!s) return;
    this.settle = undefined;
    unwatch(this);
    s.reject(this.failure);
  }

  /**
   * In a forked child: this call was the parent's. It never settles here
   * (as a thread that was waiting does not exist in the child), and its
   * timer and abort listener go.
   */
  orphan(): void {
    this.settle = undefined;
    this.end();
  }

  /** The fd is ready: the wait in progress resolves. */
  ready(): void {
    const s = this.settle;
    this.settle = undefined;
    s?.resolve();
  }

  // The timer and the abort listener exist only for calls that wait.
  private arm(): void {
    this.armed = true;
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
    let deadline = this.deadline;
    if (deadline === undefined) {
      const ms = this.defaultTimeoutMs();
      if (ms > 0) deadline = performance.now() + ms;
    }
    if (deadline === undefined) return;
    const left = Math.max(0, Math.ceil(deadline - performance.now()));
    this.timer = setTimeout(() => this.fail(this.timeoutError()), left);
  }
}

function watchFor(call: Call): void {
  let w = watches.get(call.fd);
  if (!w) {
    w = { waiting: new Set(), events: 0 };
    releaseWatchesInChild();
    watches.set(call.fd, w);
  }
  w.waiting.add(call);
  const events = w.events | call.events;
  if (events !== w.events) {
    try {
      native.pollWatch(call.fd, events);
    } catch (err) {
      w.waiting.delete(call);
      call.fail(err as Error);
      return;
    }
    w.events = events;
  }
}

function unwatch(call: Call): void {
  watches.get(call.fd)?.waiting.delete(call);
  narrowSoon();
}

// Narrows (or stops) the watches once this turn of the loop is over: a call
// that just got its readiness usually waits again at once, and a watch
// stopped and restarted in between would cost two epoll_ctl(2) calls.
function narrowSoon(): void {
  if (narrowing) return;
  narrowing = true;
  setImmediate(() => {
    narrowing = false;
    for (const [fd, w] of watches) {
      let events = 0;
      for (const c of w.waiting) events |= c.events;
      if (events === w.events) continue;
      w.events = events;
      native.pollWatch(fd, events);
    }
  }).unref();
}

native.pollHook((fd, status, events) => {
  const w = watches.get(fd);
  if (!w) return;
  // An error on the fd wakes every waiter: the call it retries reports it.
  const ready = status < 0 ? READABLE | WRITABLE : events;
  for (const call of [...w.waiting]) {
    if (!(call.events & ready)) continue;
    w.waiting.delete(call);
    call.ready();
  }
  narrowSoon();
});

// A forked child starts with no watch: the calls waiting at the fork were
// the parent's, and libuv would go on watching the parent's fds for them
// (uv_loop_fork keeps every handle). Their handles are closed; the fds stay.
const releaseWatchesInChild = onForkedChildStartOnceUsed(() => {
  for (const [fd, w] of watches) {
    native.pollRelease(fd);
    for (const call of w.waiting) call.orphan();
  }
  watches.clear();
});

// Closing a fd through this package: its watch is closed first, and every
// call still waiting on it rejects with EBADF, as the call would fail if it
// ran now.
releaseOnClose((fd) => {
  const w = watches.get(fd);
  if (!w) return;
  watches.delete(fd);
  native.pollRelease(fd);
  for (const call of w.waiting) call.fail(makeError(EBADF, call.syscall, { fd }));
});

/**
 * Runs `body` as one call, ending it (timer, abort listener) however it
 * finishes. Not exported from the package.
 */
export async function asCall<T>(call: Call, body: (call: Call) => Promise<T>): Promise<T> {
  try {
    return await body(call);
  } finally {
    call.end();
  }
}

/** How many fds the promise API watches, and how many watches are started. For tests. */
export function watchStats(): { fds: number; watches: number; active: number } {
  return { fds: watches.size, ...native.pollStats() };
}
