/**
 * The care a server that people run needs beyond the blog's program, shared
 * by forking-server.ts and prefork-server.ts. Each piece is small and named
 * so that the servers still read beside the original:
 *
 * - {@link Episode}: a trouble that comes and goes (a full pids cgroup, an
 *   fd limit) is logged when it starts and when it ends, not once per try.
 * - {@link backOff}: a short, growing pause before trying again, cut short
 *   by any signal (a child that exits frees a pid and fds).
 * - {@link isPressure}: which errors of fork(2) and accept(2) are weather,
 *   to wait out, and not bugs, to die of.
 * - {@link SpareFd} and {@link turnAway}: when accept(2) fails with EMFILE
 *   the connection stays queued; one fd held in reserve lets the server take
 *   it anyway, tell the client, and close it cleanly.
 * - {@link dieWithParent}: a child never outlives the server that forked it.
 * - {@link NO_DEBUGGER}: what the servers do about SIGUSR1 (the lessons
 *   that fork say {@link SIGUSR1_IGNORED}, its first sentence).
 */
import {
  InterruptedError,
  MSG_DONTWAIT,
  PosixError,
  _exit,
  accept,
  close,
  getppid,
  recv,
  send,
  setNonBlocking,
  setParentDeathSignal,
  shutdown,
  sleep,
  socket,
} from '../../lib/index.ts';

/** Errors that say "not now" rather than "never": resource limits and memory. */
const PRESSURE = new Set(['EAGAIN', 'ENOMEM', 'EMFILE', 'ENFILE', 'ENOBUFS']);

/**
 * True for fork(2)'s EAGAIN (a pids cgroup or RLIMIT_NPROC is full) and
 * ENOMEM, and accept(2)'s EMFILE, ENFILE, ENOBUFS and ENOMEM: limits that
 * are reached and left again while the server runs.
 */
export function isPressure(err: unknown): err is PosixError {
  return err instanceof PosixError && PRESSURE.has(err.code);
}

/** An episode of trouble, logged once when it starts and once when it ends. */
export class Episode {
  /** Failures in the current episode; 0 when all is well. */
  failures = 0;
  private readonly what: string;
  private readonly log: (line: string) => void;
  private readonly then: string;
  constructor(
    what: string,
    log: (line: string) => void = (line) => console.error(line),
    then = '; backing off and going on',
  ) {
    this.what = what;
    this.log = log;
    this.then = then;
  }

  /** Something failed: said only the first time in an episode. */
  failed(why: string): void {
    if (this.failures++ === 0) this.log(`${this.what}: ${why}${this.then}`);
  }

  /** It worked: ends the episode, if one was on. */
  passed(): void {
    if (this.failures === 0) return;
    this.log(`${this.what}: works again (after ${this.failures} tries)`);
    this.failures = 0;
  }
}

/**
 * Pauses 50 ms, doubling with each failure of the episode up to 1 s. A
 * signal ends the pause early (its handler has run): a SIGCHLD means a
 * child exited and the pressure may be off already.
 */
export function backOff(episode: Episode): void {
  const seconds = Math.min(1, 0.05 * 2 ** Math.min(episode.failures - 1, 5));
  try {
    sleep(seconds);
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
  }
}

/**
 * Says `message` to a client the server will not serve, so that the caller
 * can close the connection cleanly. Closing a socket with unread data makes
 * the kernel answer with a reset instead of an end, and a client that gets
 * the reset before it read the message loses the message. So: what the
 * client sent is read first (without waiting), the message goes out, then
 * a lingering close: shutdown(2) says "no more from us", and whatever the
 * client still sends (its request may arrive after that first look) is read
 * until the client ends too, for at most `lingerMs`.
 */
export function turnAway(fd: number, message: Uint8Array, lingerMs = 200): void {
  try {
    for (let i = 0; i < 16; i++) if (recv(fd, 65536, { flags: MSG_DONTWAIT }).length === 0) break;
  } catch {
    // EAGAIN: nothing (more) to read; ECONNRESET: the client is gone
  }
  try {
    send(fd, message, { flags: MSG_DONTWAIT });
    shutdown(fd, 'SHUT_WR');
    setNonBlocking(fd, false);
    const end = performance.now() + lingerMs;
    for (;;) {
      const left = Math.ceil(end - performance.now());
      if (left <= 0) break;
      // A handled signal (SIGCHLD) does not end the wait: retried with what is left.
      if (recv(fd, 65536, { timeoutMs: left, onInterrupt: 'retry' }).length === 0) break;
    }
  } catch {
    // the client is gone, not listening, or silent past lingerMs: close now
  }
}

/**
 * One fd kept in reserve (an unbound socket). When accept(2) fails with
 * EMFILE or ENFILE the connection stays in the queue and accept(2) would
 * fail again at once, for ever: {@link SpareFd.turnAwayOne} gives the spare
 * back, takes the connection into its place, turns the client away and
 * takes the spare again.
 */
export class SpareFd {
  private fd = -1;
  constructor() {
    this.take();
  }

  private take(): void {
    try {
      this.fd = socket('AF_UNIX', 'SOCK_DGRAM', { cloexec: true });
    } catch {
      this.fd = -1; // no fd to spare right now; tried again next time
    }
  }

  /** Accepts one queued connection on `listenFd` through the spare fd and turns it away. */
  turnAwayOne(listenFd: number, message: Uint8Array): void {
    if (this.fd < 0) this.take();
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
    try {
      // timeoutMs 0: only what is queued now; never wait here.
      const { fd } = accept(listenFd, { nonblock: true, timeoutMs: 0 });
      turnAway(fd, message);
      close(fd);
    } catch (err) {
      if (!(err instanceof PosixError)) throw err; // still no fd, or nothing queued any more
    } finally {
      this.take();
    }
  }
}

/** What a client is told when the server cannot take it now. */
export const BUSY = Buffer.from('ERROR: server busy, try again later\n');

/**
 * First thing in a forked child: prctl(2) PR_SET_PDEATHSIG, so that the
 * kernel SIGKILLs this child when the server dies, even by kill -9, instead
 * of leaving it running, adopted by init, holding its copy of the listening
 * socket (and the port). A server that died before the call is caught by
 * comparing getppid(2) with its pid. `deathSignal` is the signal the kernel
 * sends (SIGKILL unless {@link compileDieWithParent} rehearses).
 */
export function dieWithParent(parentPid: number, deathSignal: string | number = 'SIGKILL'): void {
  setParentDeathSignal(deathSignal);
  if (getppid() !== parentPid) _exit(1);
}

/**
 * Compiles {@link dieWithParent} in the server, harmlessly (a refused
 * signal number throws before any system call), so that each child finds
 * it compiled instead of compiling it afresh (docs/performance.md); and
 * getppid(2), which that throw skips.
 */
export function compileDieWithParent(): void {
  try {
    dieWithParent(0, -1);
  } catch {
    // RangeError, as intended
  }
  getppid();
}

/**
 * Node opens its inspector (a debugger on 127.0.0.1:9229, with a thread and
 * several fds of its own) when it receives SIGUSR1. A program that forks
 * ignores it, in the parent and, through fork's ignoreSignals, in every
 * child, and its --help says so in these words.
 */
export const SIGUSR1_IGNORED = 'SIGUSR1 is ignored: Node would open its debugger on 127.0.0.1:9229.';

/** What the servers' --help says about signals: {@link SIGUSR1_IGNORED}, and how they stop. */
export const NO_DEBUGGER = `${SIGUSR1_IGNORED} SIGTERM/SIGINT stop gracefully.`;
