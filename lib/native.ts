/**
 * The native contract, written by hand: every function the addon exports,
 * with the exact shapes it takes and returns. Nothing here validates; the
 * public modules do that first and the C++ side checks again.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';

/** A socket address as the addon takes it (family as a number). */
export interface NativeAddress {
  family: number;
  address?: string;
  port?: number;
  flowinfo?: number;
  scopeId?: number;
  path?: string;
}

/** A socket address as the addon returns it (family by name). */
export type NativeAddressOut =
  | { family: 'AF_INET'; address: string; port: number }
  | { family: 'AF_INET6'; address: string; port: number; flowinfo: number; scopeId: number }
  | { family: 'AF_UNIX'; path: string }
  | { family: 'AF_UNSPEC' };

export interface NativeWaitStatus {
  pid: number;
  status: number;
  kind: 'exited' | 'signaled' | 'stopped' | 'continued' | 'running';
  code?: number;
  signal?: number;
  coreDumped?: boolean;
}

export interface Native {
  /** Hands the addon its hooks; returns the shared "signal pending" word. */
  setup(
    makeError: (errno: number, syscall: string, info?: Record<string, unknown>) => Error,
    onSignal: () => void,
    onDrain: () => void,
  ): Int32Array;
  constants: Record<string, number>;
  socket(domain: number, type: number, flags: number): number;
  bind(fd: number, address: NativeAddress): void;
  listen(fd: number, backlog: number): void;
  accept(fd: number, flags: number, timeoutMs: number): { fd: number; address: NativeAddressOut };
  connect(fd: number, address: NativeAddress, resume: boolean, timeoutMs: number): void;
  send(fd: number, data: Uint8Array, flags: number, timeoutMs: number): number;
  recv(fd: number, maxBytes: number, flags: number, timeoutMs: number): Buffer;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  getsockname(fd: number): NativeAddressOut;
  getpeername(fd: number): NativeAddressOut;
  socketpair(domain: number, type: number, flags: number): [number, number];
  pipe(flags: number): [number, number];
  dup(fd: number): number;
  dup2(fd: number, newFd: number): number;
  /** which: 0 = O_NONBLOCK, 1 = FD_CLOEXEC; with a value sets, else gets. */
  fdFlag(fd: number, which: 0 | 1, value?: boolean): boolean | undefined;
  /** kind: 0 = int, 1 = timeval in seconds, 2 = linger. */
  setsockopt(fd: number, level: number, option: number, kind: number, value: number | boolean, linger?: number): void;
  getsockopt(fd: number, level: number, option: number, kind: number): number | { onoff: boolean; linger: number };
  getpid(): number;
  getppid(): number;
  /** Returns 0 when it slept the whole time, else the milliseconds left. */
  sleep(ms: number): number;
  /**
   * stdioMask: bit 0 / bit 1 make the child's stdout / stderr pipe blocking;
   * ignoreSignals: signals the child ignores from its first instruction.
   */
  fork(stdioMask?: number, ignoreSignals?: number[]): number;
  markHeapForkable(): number;
  _exit(code: number): never;
  /** Returns only by throwing, when execve(2) fails. */
  execve(path: string, argv: string[], env: string[]): never;
  waitpid(pid: number, options: number): NativeWaitStatus;
  kill(pid: number, signal: number): void;
  /** disposition: 0 = the one before us, 1 = ignore, 2 = handle, 3 = default. */
  sigaction(signal: number, disposition: 0 | 1 | 2 | 3, flags: number): void;
  takeSignals(): number[];
  signalRestarts(signal: number): boolean;
  /** Puts this package's handlers back where Node or libuv replaced them. */
  reassertSignals(): void;
  /** Starts the forked child's drain watcher; returns its phase word (1: emit beforeExit, 2: exit). */
  /** The drain phase word; with start (the default) also starts the watcher. */
  watchLoopDrain(start?: boolean): Int32Array;
}

function findAddon(): string {
  // WTF_ADDON_PATH names another build of the same sources (the sanitizer
  // build that scripts/asan.sh makes); it must exist.
  const override = process.env.WTF_ADDON_PATH;
  if (override) {
    if (!fs.existsSync(override)) throw new Error(`what-the-fork: WTF_ADDON_PATH names no file: ${override}`);
    return path.resolve(override);
  }
  // lib/ (sources run by ts-jest) and dist/lib/ (compiled) both live below
  // the package root, which holds build/.
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'build', 'Release', 'what_the_fork.node');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('what-the-fork: the native addon is not built; run `npm install` (node-gyp rebuild)');
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: Native = require(findAddon());
export const C = native.constants;
