/**
 * what-the-fork/promises: the calls that wait, as Promises, in the style of
 * node:fs/promises and node:timers/promises. Same names, arguments and
 * errors as the blocking calls, plus `{ signal, timeoutMs }`; the waiting
 * happens on the event loop (libuv readiness, then the non-blocking call),
 * so the thread stays free for everything else the process serves.
 *
 * ```ts
 * import { accept, recv, send } from 'what-the-fork/promises';
 * const { fd } = await accept(listenFd, { signal: AbortSignal.timeout(5000) });
 * ```
 */
export { accept, connect, send, sendAll, recv } from './sockets.ts';
export type { AsyncAcceptOptions, AsyncConnectOptions, AsyncSendOptions, AsyncRecvOptions } from './sockets.ts';
export { sendFds, recvFds, sendto, recvfrom } from './fdpass.ts';
export type { AsyncSendMsgOptions, AsyncRecvMsgOptions } from './fdpass.ts';
export { sleep, waitpid, wait } from './process.ts';
export type { AsyncWaitOptions } from './process.ts';
export { Socket } from './socket-class.ts';
export type { AsyncOptions } from './abort.ts';
