/**
 * The native contract, written by hand: every function the addon exports,
 * with the exact shapes it takes and returns, and the constants it exports.
 * Nothing here validates; the public modules do that first and the C++ side
 * checks again (native/binding/). This module only loads the addon;
 * lib/addon.ts hands it its hooks.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Where a failed call happened, as the addon reports it to makeError. */
export interface NativeErrorContext {
  fd?: number;
  address?: string;
  port?: number;
  path?: string;
  pid?: number;
  timedOut?: boolean;
}

/**
 * Every constant the addon exports: system constants by their C names, and
 * the package's own numbers (native/binding/contract.h). A test checks that
 * the addon exports exactly these names.
 */
export const CONSTANT_NAMES = [
  'AF_INET',
  'AF_INET6',
  'AF_UNIX',
  'AF_UNSPEC',
  'SOCK_STREAM',
  'SOCK_DGRAM',
  'SOCK_SEQPACKET',
  'SOCK_RAW',
  'SOCK_NONBLOCK',
  'SOCK_CLOEXEC',
  'O_NONBLOCK',
  'O_CLOEXEC',
  'FD_CLOEXEC',
  'SOL_SOCKET',
  'IPPROTO_TCP',
  'IPPROTO_IPV6',
  'SO_REUSEADDR',
  'SO_REUSEPORT',
  'SO_RCVTIMEO',
  'SO_SNDTIMEO',
  'SO_KEEPALIVE',
  'SO_LINGER',
  'SO_RCVBUF',
  'SO_SNDBUF',
  'SO_ERROR',
  'SO_TYPE',
  'SO_ACCEPTCONN',
  'SO_BROADCAST',
  'TCP_NODELAY',
  'IPV6_V6ONLY',
  'SHUT_RD',
  'SHUT_WR',
  'SHUT_RDWR',
  'MSG_PEEK',
  'MSG_DONTWAIT',
  'MSG_WAITALL',
  'MSG_NOSIGNAL',
  'MSG_OOB',
  'MSG_MORE',
  'WNOHANG',
  'WUNTRACED',
  'WCONTINUED',
  'SA_RESTART',
  'SA_NOCLDSTOP',
  'SA_NOCLDWAIT',
  'SOMAXCONN',
  'SOCKOPT_INT',
  'SOCKOPT_TIMEVAL',
  'SOCKOPT_LINGER',
  'DISPOSITION_PREVIOUS',
  'DISPOSITION_IGNORE',
  'DISPOSITION_HANDLE',
  'DRAIN_BEFORE_EXIT',
  'DRAIN_EXIT',
  'POLL_READABLE',
  'POLL_WRITABLE',
] as const;
export type ConstantName = (typeof CONSTANT_NAMES)[number];

export interface Native {
  /**
   * Hands the addon this environment's hooks; returns the "signal pending"
   * word (the process's on the main thread, one never set in a worker).
   */
  setup(
    makeError: (errno: number, syscall: string, info: NativeErrorContext) => Error,
    onSignal: () => void,
    onDrain: () => void,
  ): Int32Array;
  constants: Record<ConstantName, number>;
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
  /** flag: O_NONBLOCK or FD_CLOEXEC; with a value sets, else gets. */
  fdFlag(fd: number, flag: number, value?: boolean): boolean | undefined;
  /** kind: SOCKOPT_INT, SOCKOPT_TIMEVAL (seconds) or SOCKOPT_LINGER. */
  setsockopt(fd: number, level: number, option: number, kind: number, value: number | boolean, linger?: number): void;
  getsockopt(fd: number, level: number, option: number, kind: number): number | { onoff: boolean; linger: number };
  /** SO_RCVTIMEO / SO_SNDTIMEO of the fd in milliseconds; -1 for none. */
  socketTimeout(fd: number, option: number): number;
  /** SO_ATTACH_FILTER with a program that drops new handshakes (SYN without ACK). */
  dropSyns(fd: number): void;
  /** setsockopt(SO_ATTACH_FILTER) with a program that drops every packet. */
  attachDropFilter(fd: number): void;
  getpid(): number;
  getppid(): number;
  /** Returns 0 when it slept the whole time, else the milliseconds left. */
  sleep(ms: number): number;
  /** ignoreSignals: signals the child ignores from its first instruction. */
  fork(ignoreSignals?: number[]): number;
  markHeapForkable(): number;
  _exit(code: number): never;
  /** Returns only by throwing, when execve(2) fails. */
  execve(path: string, argv: string[], env: string[]): never;
  waitpid(pid: number, options: number): NativeWaitStatus;
  kill(pid: number, signal: number): void;
  /** prctl(2) PR_SET_PDEATHSIG; 0 for none. */
  setParentDeathSignal(signal: number): void;
  /** prctl(2) PR_SET_CHILD_SUBREAPER. */
  setChildSubreaper(on: boolean): void;
  /** disposition: a DISPOSITION_* constant; flags: SA_RESTART | SA_NOCLDSTOP | SA_NOCLDWAIT. */
  sigaction(signal: number, disposition: number, flags: number): void;
  /** Pairs: a pending signal's number, then how many times the C handler caught it since the last take. */
  takeSignals(): number[];
  signalRestarts(signal: number): boolean;
  /** Puts this package's handlers back where Node or libuv replaced them. */
  reassertSignals(): void;
  /**
   * One more (true) or one fewer (false) wait that only a signal ends:
   * while there is any, the signal wake fd keeps the event loop alive.
   */
  keepSignalWatch(keep: boolean): void;
  /**
   * The forked child's drain phase word (0, DRAIN_BEFORE_EXIT or
   * DRAIN_EXIT); with start (the default) also starts the watcher.
   */
  watchLoopDrain(start?: boolean): Int32Array;
  // The promise API (native/binding/poll.cc, nowait.cc).
  /** The hook the event loop calls when a watched fd is ready: events as POLL_* bits; status < 0 an error. */
  pollHook(onReady: (fd: number, status: number, events: number) => void): void;
  /** Watches `fd` for POLL_READABLE | POLL_WRITABLE; 0 stops the watch (the handle is kept). */
  pollWatch(fd: number, events: number): void;
  /** Closes the watch of `fd`, if any (before the fd is closed); returns whether there was one. */
  pollRelease(fd: number): boolean;
  /** How many fds have a watch, and how many of those are started. */
  pollStats(): { watches: number; active: number };
  /** accept4(2) that never waits: null when nothing is queued. */
  acceptNow(fd: number, flags: number): { fd: number; address: NativeAddressOut } | null;
  /** connect(2) that never waits: true when connected, false while the handshake goes on. */
  connectNow(fd: number, address: NativeAddress): boolean;
  /** Throws the error a finished handshake ended with (SO_ERROR), if any. */
  connectResult(fd: number, address: NativeAddress): void;
  /** send(2) with MSG_DONTWAIT: the bytes sent, or -1 when the buffer is full. */
  sendNow(fd: number, data: Uint8Array, flags: number): number;
  /** recv(2) with MSG_DONTWAIT: null when nothing is there; empty at end of stream. */
  recvNow(fd: number, maxBytes: number, flags: number): Buffer | null;
  /** pidfd_open(2): a fd that turns readable when `pid` exits. */
  pidfdOpen(pid: number): number;
  /**
   * sendmsg(2) with fds (SCM_RIGHTS) and an optional address; flags MSG_MORE | MSG_DONTWAIT.
   * With nowait, -1 when it would have to wait.
   */
  sendmsg(
    fd: number,
    data: Uint8Array,
    fds: number[],
    address: NativeAddress | null,
    flags: number,
    timeoutMs: number,
    nowait: boolean,
  ): number;
  /**
   * recvmsg(2): bytes, up to maxFds fds (more, or MSG_CTRUNC: all closed, EMSGSIZE) and the sender's
   * address; flags MSG_DONTWAIT. With nowait, null when nothing is there.
   */
  recvmsg(
    fd: number,
    maxBytes: number,
    maxFds: number,
    flags: number,
    cloexec: boolean,
    timeoutMs: number,
    nowait: boolean,
  ): { data: Buffer; fds: number[]; address: NativeAddressOut } | null;
}

/**
 * This file's path. Compiled, this module is CommonJS and has __filename;
 * run as written (Node's type stripping) it is an ES module, which has none,
 * and the stack trace names the file.
 */
function thisFile(): string {
  if (typeof __filename === 'string') return __filename;
  const prepare = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_err, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const name = frames[0]?.getFileName() ?? '';
    return name.startsWith('file:') ? fileURLToPath(name) : name;
  } finally {
    Error.prepareStackTrace = prepare;
  }
}

const here = path.dirname(thisFile());
// require() in either module system.
const load = createRequire(thisFile());

/** The package root: the nearest folder above this file whose package.json names this package. */
function packageRoot(): string {
  for (let dir = here; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'what-the-fork') return dir;
    if (path.dirname(dir) === dir) throw new Error(`what-the-fork: no package.json above ${here}`);
  }
}

const REBUILD = 'Build one from source (needs python3, make and a C++ compiler): npm rebuild what-the-fork';

/** What a folder holds, for the error message: its .node files, or that it is missing. */
function listing(dir: string): string {
  if (!fs.existsSync(dir)) return `${dir}: missing`;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.node'));
  return `${dir}: ${files.length > 0 ? files.join(', ') + ' (none fits)' : 'no .node file'}`;
}

/**
 * The addon to load. WTF_ADDON_PATH (an absolute path to a .node file)
 * chooses one outright; otherwise node-gyp-build picks, in its order, a
 * local compile in build/Release or build/Debug, then the prebuilt binary in
 * prebuilds/<platform>-<arch>/ whose tags (napi, glibc or musl) fit.
 */
function findAddon(): string {
  const chosen = process.env.WTF_ADDON_PATH;
  if (chosen !== undefined && chosen !== '') {
    if (!path.isAbsolute(chosen) || !chosen.endsWith('.node') || !fs.existsSync(chosen))
      throw new Error(`what-the-fork: WTF_ADDON_PATH must name an existing .node file by absolute path: ${chosen}`);
    return chosen;
  }
  const root = packageRoot();
  try {
    return load('node-gyp-build').path(root) as string;
  } catch {
    const libc = process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
    throw new Error(
      [
        `what-the-fork: no native addon fits ${process.platform}-${process.arch} ${libc}, Node ${process.version} (N-API ${process.versions.napi}). Looked in:`,
        '  WTF_ADDON_PATH: not set',
        `  ${listing(path.join(root, 'build', 'Release'))}`,
        `  ${listing(path.join(root, 'build', 'Debug'))}`,
        `  ${listing(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`))}`,
        REBUILD,
      ].join('\n'),
    );
  }
}

/** Loads the addon; a binary that is there but will not load (wrong libc, say) says how to replace it. */
function loadAddon(file: string): Native {
  try {
    return load(file) as Native;
  } catch (err) {
    throw new Error(`what-the-fork: ${file} did not load (${(err as Error).message.split('\n')[0]}). ` + REBUILD);
  }
}

export const native: Native = loadAddon(findAddon());
/** The addon's constants by name. */
export const C = native.constants;
