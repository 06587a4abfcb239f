/**
 * what-the-fork: the raw POSIX calls behind a classic Unix server (socket,
 * bind, listen, accept, send, recv, close, fork, waitpid, kill, _exit,
 * signal/sigaction) for Node.js, every errno a typed error.
 */
export * from './errors';
export * from './sockets';
export * from './socket';
export * from './signals';
export * from './process';
export * from './trace';
export type { BlockingOptions } from './runtime';
