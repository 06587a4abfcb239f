/**
 * The socket calls as Promises: accept, connect, send, sendAll and recv
 * with the names, arguments and errors of the blocking calls
 * (lib/sockets/syscalls.ts), plus `{ signal, timeoutMs }`. Each tries the
 * call without waiting (native/binding/nowait.cc); when it would have to
 * wait, the event loop watches the fd (lib/promises/readiness.ts) and the
 * call is tried again once the fd is ready. The thread never blocks, so a
 * node:http server in the same process keeps answering.
 */
import { C, native } from '../addon.ts';
import { errnoNumber, makeError } from '../errors.ts';
import { traced } from '../trace.ts';
import { ArgValueError, checkBool, checkBytes, checkFd, checkInt } from '../validate.ts';
import { formatAddress, fromNative, toNative, type SocketAddress } from '../sockets/addresses.ts';
import type { AcceptOptions, RecvOptions, SendOptions } from '../sockets/syscalls.ts';
import type { BlockingOptions } from '../blocking.ts';
import { checkAsyncOptions, type AsyncOptions } from './abort.ts';
import { asCall, Call, READABLE, WRITABLE } from './readiness.ts';

const EAGAIN = errnoNumber('EAGAIN') as number;
const ETIMEDOUT = errnoNumber('ETIMEDOUT') as number;

/** Options of the promise {@link accept}. */
export interface AsyncAcceptOptions extends AcceptOptions, AsyncOptions {}
/** Options of the promise {@link send} and {@link sendAll}. */
export interface AsyncSendOptions extends SendOptions, AsyncOptions {}
/** Options of the promise {@link recv}. */
export interface AsyncRecvOptions extends RecvOptions, AsyncOptions {}
/** Options of the promise {@link connect}. */
export interface AsyncConnectOptions extends BlockingOptions, AsyncOptions {}

// A deadline that passes is reported as the blocking call reports
// SO_RCVTIMEO / SO_SNDTIMEO running out: TimeoutError, code EAGAIN.
function timedOut(syscall: string, fd: number): () => Error {
  return () => makeError(EAGAIN, syscall, { fd, timedOut: true });
}

function socketTimeout(fd: number, option: number): () => number {
  return () => native.socketTimeout(fd, option);
}

// MSG_DONTWAIT asks a call never to wait: it rejects with BlockingIOError
// where it would wait. MSG_WAITALL has no meaning without a blocking wait.
function ioFlags(o: { flags?: number }, allowWaitAll: boolean): { flags: number; dontWait: boolean } {
  const f = o.flags === undefined ? 0 : checkInt(o.flags, 'options.flags', 0, 2 ** 31 - 1);
  if (!allowWaitAll && f & C.MSG_WAITALL)
    throw new ArgValueError(
      'The "options.flags" argument: MSG_WAITALL is for blocking recv(); loop over recv() instead',
    );
  return { flags: f & ~C.MSG_DONTWAIT, dontWait: (f & C.MSG_DONTWAIT) !== 0 };
}

/**
 * accept(2) as a Promise: resolves with the next connection's fd and the
 * peer's address, waiting on the event loop, not the thread.
 * @throws (rejects) AbortError when `signal` aborts; TimeoutError when
 *   `timeoutMs` or SO_RCVTIMEO passes; BadFileDescriptorError (EBADF) when
 *   the fd is closed through this package while it waits; otherwise as the
 *   blocking accept (ConnectionAbortedError, PosixError EMFILE, EINVAL),
 *   never InterruptedError
 * Teaches: a server that waits for readiness instead of in accept(2) can
 * do other work meanwhile; that is what an event loop is.
 */
export async function accept(
  fd: number,
  options?: AsyncAcceptOptions,
): Promise<{ fd: number; address: SocketAddress }> {
  checkFd(fd);
  const o = checkAsyncOptions(options);
  let flags = 0;
  if (o.nonblock !== undefined && checkBool(o.nonblock, 'options.nonblock')) flags |= C.SOCK_NONBLOCK;
  if (o.cloexec !== undefined && checkBool(o.cloexec, 'options.cloexec')) flags |= C.SOCK_CLOEXEC;
  const tryNow = (): { fd: number; address: SocketAddress } | null => {
    const r = traced(
      'accept',
      () => `${fd}`,
      () => native.acceptNow(fd, flags),
      (r) => (r ? `${r.fd}` : '-1 EAGAIN (waits on the event loop)'),
    );
    return r && { fd: r.fd, address: fromNative(r.address) };
  };
  const first = tryNow();
  if (first) {
    // A loop of accepts whose connections are already queued would
    // otherwise run from microtask to microtask and starve every other
    // callback of the process (timers, node:http, the reaping of children)
    // for as long as clients keep coming: one turn of the loop per accept.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return first;
  }
  return asCall(new Call(fd, 'accept', o, timedOut('accept', fd), socketTimeout(fd, C.SO_RCVTIMEO)), async (call) => {
    for (;;) {
      await call.wait(READABLE);
      const r = tryNow();
      if (r) return r;
    }
  });
}

/**
 * connect(2) as a Promise: starts the handshake without waiting and
 * resolves when it is done. An aborted or timed-out connect leaves the
 * handshake going on in the kernel, as an interrupted blocking connect
 * does; close the fd to give it up.
 * @throws (rejects) AbortError; TimeoutError (ETIMEDOUT, also when
 *   `timeoutMs` or SO_SNDTIMEO passes); BadFileDescriptorError when the fd
 *   is closed while it waits; otherwise as the blocking connect
 *   (ConnectionRefusedError, PermissionError, PosixError ENOENT, EISCONN);
 *   BlockingIOError (EAGAIN) for a UNIX socket whose listener's queue is full
 * Teaches: a non-blocking connect(2) returns EINPROGRESS at once; the
 * socket turns writable when the handshake ends, and SO_ERROR says how.
 */
export async function connect(fd: number, address: SocketAddress, options?: AsyncConnectOptions): Promise<void> {
  checkFd(fd);
  const a = toNative(address);
  const o = checkAsyncOptions(options);
  const args = (): string => `${fd}, ${formatAddress(address)}`;
  if (
    traced(
      'connect',
      args,
      () => native.connectNow(fd, a),
      (done) => (done ? '0' : '-1 EINPROGRESS'),
    )
  )
    return;
  const where = a.family === C.AF_UNIX ? { fd, path: a.path } : { fd, address: a.address, port: a.port };
  const call = new Call(
    fd,
    'connect',
    o,
    () => makeError(ETIMEDOUT, 'connect', { ...where, timedOut: true }),
    socketTimeout(fd, C.SO_SNDTIMEO),
  );
  return asCall(call, async (c) => {
    await c.wait(WRITABLE);
    traced('connect', args, () => native.connectResult(fd, a));
  });
}

/**
 * send(2) as a Promise: resolves with how many bytes the kernel took,
 * waiting on the event loop while the socket's buffer is full.
 * @throws (rejects) AbortError; TimeoutError (`timeoutMs` or SO_SNDTIMEO);
 *   BlockingIOError (EAGAIN) at once with MSG_DONTWAIT and a full buffer;
 *   BadFileDescriptorError when the fd is closed while it waits; otherwise
 *   as the blocking send (BrokenPipeError, ConnectionResetError, ...)
 * Teaches: "the buffer is full" is a state the loop can wait out, not a
 * reason to stop the whole program.
 */
export async function send(fd: number, data: Uint8Array | string, options?: AsyncSendOptions): Promise<number> {
  checkFd(fd);
  const bytes = checkBytes(data);
  const o = checkAsyncOptions(options);
  const { flags, dontWait } = ioFlags(o, false);
  return sendBytes(fd, bytes, o, flags, dontWait, false);
}

// One send, or (all) every byte, under one deadline and one signal.
async function sendBytes(
  fd: number,
  data: Uint8Array,
  o: AsyncOptions,
  flags: number,
  dontWait: boolean,
  all: boolean,
): Promise<number> {
  let bytes = data;
  let total = 0;
  const tryNow = (): number =>
    traced(
      'send',
      () => `${fd}, ${bytes.byteLength} bytes`,
      () => native.sendNow(fd, bytes, flags),
      (n) => (n < 0 ? '-1 EAGAIN (waits on the event loop)' : `${n}`),
    );
  let call: Call | undefined;
  try {
    for (;;) {
      const n = tryNow();
      if (n >= 0) {
        total += n;
        bytes = bytes.subarray(n);
        if (!all || bytes.byteLength === 0) return total;
        continue;
      }
      if (dontWait) throw makeError(EAGAIN, 'send', { fd });
      call ??= new Call(fd, 'send', o, timedOut('send', fd), socketTimeout(fd, C.SO_SNDTIMEO));
      await call.wait(WRITABLE);
    }
  } finally {
    call?.end();
  }
}

/**
 * Sends every byte, as the blocking sendAll: resolves with the byte count
 * once the kernel took them all. `timeoutMs` and `signal` bound the whole
 * transfer; a rejection leaves some bytes sent, so the stream is best
 * closed then.
 * @throws as {@link send}
 * Teaches: "send everything" is a loop around send(2), here one that
 * yields to the event loop whenever the buffer is full.
 */
export async function sendAll(fd: number, data: Uint8Array | string, options?: AsyncSendOptions): Promise<number> {
  checkFd(fd);
  const bytes = checkBytes(data);
  const o = checkAsyncOptions(options);
  const { flags, dontWait } = ioFlags(o, false);
  return sendBytes(fd, bytes, o, flags, dontWait, true);
}

/**
 * recv(2) as a Promise: resolves with up to `maxBytes` bytes, an empty
 * Buffer at end of stream, waiting on the event loop until some arrive.
 * @throws (rejects) AbortError; TimeoutError (`timeoutMs` or SO_RCVTIMEO);
 *   BlockingIOError (EAGAIN) at once with MSG_DONTWAIT and nothing to read;
 *   BadFileDescriptorError when the fd is closed while it waits; otherwise
 *   as the blocking recv (ConnectionResetError, PosixError ENOTCONN);
 *   TypeError/RangeError naming `maxBytes`, or `options.flags` with
 *   MSG_WAITALL
 * Teaches: "nothing to read yet" is EAGAIN on a non-blocking call; the
 * event loop turns it into "call me when there is".
 */
export async function recv(fd: number, maxBytes: number, options?: AsyncRecvOptions): Promise<Buffer> {
  checkFd(fd);
  checkInt(maxBytes, 'maxBytes', 1, 2 ** 30);
  const o = checkAsyncOptions(options);
  const { flags, dontWait } = ioFlags(o, false);
  const tryNow = (): Buffer | null =>
    traced(
      'recv',
      () => `${fd}, ${maxBytes}`,
      () => native.recvNow(fd, maxBytes, flags),
      (b) => (b ? `${b.byteLength}` : '-1 EAGAIN (waits on the event loop)'),
    );
  const first = tryNow();
  if (first) return first;
  if (dontWait) throw makeError(EAGAIN, 'recv', { fd });
  return asCall(new Call(fd, 'recv', o, timedOut('recv', fd), socketTimeout(fd, C.SO_RCVTIMEO)), async (call) => {
    for (;;) {
      await call.wait(READABLE);
      const b = tryNow();
      if (b) return b;
    }
  });
}
