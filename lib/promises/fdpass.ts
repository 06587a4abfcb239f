/**
 * sendFds/recvFds (SCM_RIGHTS) and sendto/recvfrom as Promises: the same
 * arguments and errors as the blocking forms (lib/sockets/fdpass.ts), plus
 * `{ signal, timeoutMs }`, waiting on the event loop.
 */
import { C, native } from '../addon.ts';
import { errnoNumber, makeError } from '../errors.ts';
import { traced } from '../trace.ts';
import type { NativeAddress } from '../native.ts';
import { checkBytes, checkFd } from '../validate.ts';
import { toNative, type SocketAddress } from '../sockets/addresses.ts';
import {
  checkRecvFds,
  checkSendFds,
  msgFlags,
  received,
  type ReceivedMessage,
  type RecvMsgOptions,
  type SendMsgOptions,
} from '../sockets/fdpass.ts';
import { checkAsyncOptions, type AsyncOptions } from './abort.ts';
import { asCall, Call, READABLE, WRITABLE } from './readiness.ts';

const EAGAIN = errnoNumber('EAGAIN') as number;

/** Options of the promise {@link sendFds} and {@link sendto}. */
export interface AsyncSendMsgOptions extends SendMsgOptions, AsyncOptions {}
/** Options of the promise {@link recvFds} and {@link recvfrom}. */
export interface AsyncRecvMsgOptions extends RecvMsgOptions, AsyncOptions {}

async function sendmsg(
  syscall: string,
  fd: number,
  bytes: Uint8Array,
  fds: number[],
  to: NativeAddress | null,
  options: AsyncSendMsgOptions | undefined,
): Promise<number> {
  const o = checkAsyncOptions(options);
  const flags = msgFlags(o.flags, C.MSG_MORE | C.MSG_DONTWAIT);
  const dontWait = (flags & C.MSG_DONTWAIT) !== 0;
  const tryNow = (): number =>
    traced(
      syscall,
      () => `${fd}, ${bytes.byteLength} bytes, ${fds.length} fds`,
      () => native.sendmsg(fd, bytes, fds, to, flags & ~C.MSG_DONTWAIT, -1, true),
      (n) => (n < 0 ? '-1 EAGAIN (waits on the event loop)' : `${n}`),
    );
  const first = tryNow();
  if (first >= 0) return first;
  if (dontWait) throw makeError(EAGAIN, syscall, { fd });
  const timeout = (): Error => makeError(EAGAIN, syscall, { fd, timedOut: true });
  return asCall(new Call(fd, syscall, o, timeout, () => native.socketTimeout(fd, C.SO_SNDTIMEO)), async (call) => {
    for (;;) {
      await call.wait(WRITABLE);
      const n = tryNow();
      if (n >= 0) return n;
    }
  });
}

async function recvmsg(
  syscall: string,
  fd: number,
  maxBytes: number,
  maxFds: number,
  options: AsyncRecvMsgOptions | undefined,
): Promise<ReceivedMessage> {
  const o = checkAsyncOptions(options);
  const cloexec = checkRecvFds(fd, maxBytes, maxFds, o.cloexec);
  const flags = msgFlags(o.flags, C.MSG_DONTWAIT);
  const tryNow = (): ReceivedMessage | null => {
    const r = traced(
      syscall,
      () => `${fd}, ${maxBytes}, ${maxFds}`,
      () => native.recvmsg(fd, maxBytes, maxFds, 0, cloexec, -1, true),
      (m) => (m ? `${m.data.byteLength} fds [${m.fds.join(', ')}]` : '-1 EAGAIN (waits on the event loop)'),
    );
    return r && received(r);
  };
  const first = tryNow();
  if (first) return first;
  if (flags & C.MSG_DONTWAIT) throw makeError(EAGAIN, syscall, { fd });
  const timeout = (): Error => makeError(EAGAIN, syscall, { fd, timedOut: true });
  return asCall(new Call(fd, syscall, o, timeout, () => native.socketTimeout(fd, C.SO_RCVTIMEO)), async (call) => {
    for (;;) {
      await call.wait(READABLE);
      const m = tryNow();
      if (m) return m;
    }
  });
}

/**
 * sendmsg(2) with SCM_RIGHTS as a Promise: `data` (at least one byte) and
 * up to 253 open fds over a UNIX socket, waiting on the event loop while the
 * socket's buffer is full.
 * @throws (rejects) as the blocking sendFds; AbortError; TimeoutError;
 *   BadFileDescriptorError when the fd is closed while it waits
 * Teaches: passing a fd is a message like any other, so it can wait on the loop like any other.
 */
export async function sendFds(
  fd: number,
  data: Uint8Array | string,
  fds: number[],
  options?: AsyncSendMsgOptions,
): Promise<number> {
  const { bytes, list } = checkSendFds(fd, data, fds);
  return sendmsg('sendmsg', fd, bytes, list, null, options);
}

/**
 * recvmsg(2) with SCM_RIGHTS as a Promise: bytes, up to `maxFds` fds
 * (close-on-exec unless `cloexec: false`) and the sender's address. More
 * fds than `maxFds`, or MSG_CTRUNC, rejects with EMSGSIZE after closing
 * every fd that arrived.
 * @throws (rejects) as the blocking recvFds; AbortError; TimeoutError;
 *   BadFileDescriptorError when the fd is closed while it waits
 * Teaches: the fds arrive with the bytes, and are this process's to close.
 */
export async function recvFds(
  fd: number,
  maxBytes: number,
  maxFds: number,
  options?: AsyncRecvMsgOptions,
): Promise<ReceivedMessage> {
  return recvmsg('recvmsg', fd, maxBytes, maxFds, options);
}

/**
 * sendto(2) as a Promise: one datagram to `address`.
 * @throws (rejects) as the blocking sendto; AbortError; TimeoutError
 * Teaches: a datagram socket needs no connection; every message names its destination.
 */
export async function sendto(
  fd: number,
  data: Uint8Array | string,
  address: SocketAddress,
  options?: AsyncSendMsgOptions,
): Promise<number> {
  checkFd(fd);
  const bytes = checkBytes(data);
  return sendmsg('sendto', fd, bytes, [], toNative(address), options);
}

/**
 * recvfrom(2) as a Promise: one datagram and the address it came from.
 * @throws (rejects) as the blocking recvfrom; AbortError; TimeoutError;
 *   BadFileDescriptorError when the fd is closed while it waits
 * Teaches: on a datagram socket the reply address comes with each message.
 */
export async function recvfrom(
  fd: number,
  maxBytes: number,
  options?: AsyncRecvMsgOptions,
): Promise<{ data: Buffer; address: SocketAddress }> {
  const m = await recvmsg('recvfrom', fd, maxBytes, 0, options);
  return { data: m.data, address: m.address };
}
