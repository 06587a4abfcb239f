/**
 * Lesson 7: the prefork server, the answer to the question the blog's
 * program ends with ("how do we prefork N workers and make them all read
 * from the listening socket?").
 *
 * No bookkeeping of "receiver" sockets is needed. The parent creates the
 * listening socket, then fork(2)s N workers up front. Each worker inherits
 * a copy of the listening fd, and all of them block in accept(2) on it at
 * the same time. That is allowed: the fds all refer to one socket in the
 * kernel, with one queue of finished handshakes, and the kernel gives each
 * new connection to exactly one of the waiting accept(2) calls (accept(2),
 * and "thundering herd" for the history). A worker serves its client, then
 * goes back to accept(2); nobody forks per connection any more, which is
 * where the speed comes from.
 *
 * The parent only supervises:
 * - SIGCHLD: its handler reaps with waitpid(2) (WNOHANG, in a loop) and
 *   forks a replacement for every worker that died, unless shutting down.
 * - SIGTERM / SIGINT: stop respawning, send SIGTERM to each worker by pid
 *   with kill(2), wait until all of them are reaped, exit 0.
 * A worker's own SIGTERM handler only sets a flag. If the worker waits in
 * accept(2), that call fails with EINTR and the loop ends; if it is in the
 * middle of a client, its recv(2)/send(2) are retried after the handler
 * (onInterrupt: 'retry'), so the client still gets its reply.
 *
 * Run it:   npm run build
 *           node --single-threaded dist/examples/prefork-server.js --workers 2
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 *           node dist/examples/tools/client.js --connections 5000 --concurrency 16
 * Look:     ps -o pid,stat,cmd --ppid <pid>       (the workers, state S)
 *           kill -KILL <a worker's pid>           (a new worker replaces it)
 *           kill -TERM <the parent's pid>         (everything stops, exit 0)
 */
import {
  BlockingIOError,
  ChildProcessError,
  ConnectionAbortedError,
  InterruptedError,
  PosixError,
  ProcessLookupError,
  ReuseAddr,
  Socket,
  WNOHANG,
  _exit,
  accept,
  close,
  fork,
  getpid,
  kill,
  recv,
  send,
  sendAll,
  setNonBlocking,
  signal,
  sleep,
  TimeoutError,
  waitpid,
  type WaitStatus,
  execSingleThreaded,
} from '../lib/index.ts';
import { PORT_HELP, declareOptions, option, portOption } from './tools/options.ts';

// Restart node with --single-threaded when it is missing (docs/fork-in-node.md).
execSingleThreaded();

declareOptions({
  about: 'The prefork server: N workers forked up front, all accepting on one listener.',
  values: { port: PORT_HELP, workers: 'how many workers, 1 to 64 (default 2)' },
});
const port = portOption();
const workerCount = option('workers', 2, { min: 1, max: 64 });

const listener = new Socket();

// ---- the worker ----------------------------------------------------------------

const MAX_LINE = 64 * 1024;
const PREFIX = Buffer.from('SERVED BY Node: ');
// One reply buffer for the worker's whole life, the prefix written once:
// each reply only copies the line in after it.
const reply = Buffer.allocUnsafe(PREFIX.length + MAX_LINE + 1);
PREFIX.copy(reply);
const TOO_LONG = Buffer.from(`ERROR: line longer than ${MAX_LINE} bytes\n`);
// Options shared by every call, built once. accept(2) with SOCK_NONBLOCK
// (accept4) hands out the connection already non-blocking; the long
// timeout of its own spares a getsockopt(2) lookup of SO_RCVTIMEO per call.
const ACCEPT = { nonblock: true, timeoutMs: 2 ** 31 - 1 } as const;
// For the waits that do happen: 'retry', so our own SIGTERM never cuts a
// client off half-way, and a bound on how long a silent client may hold a
// worker.
const WAIT = { onInterrupt: 'retry', timeoutMs: 10_000 } as const;

let workerStopping = false;
// Whether the current connection's fd has been switched to blocking mode;
// tracked here rather than asked of the kernel with fcntl(2) each time.
let clientBlocks = false;

/**
 * recv(2) of what has arrived. The fd starts non-blocking: by the time a
 * busy server accepts a connection its line is usually there already, and
 * then one recv(2) is all it costs. Only when nothing has arrived yet
 * (EAGAIN, BlockingIOError) does the fd go back to blocking mode for a
 * proper wait, which polls for readiness and for signals first.
 */
function recvSome(fd: number): Buffer {
  if (!clientBlocks) {
    try {
      return recv(fd, 4096);
    } catch (err) {
      if (!(err instanceof BlockingIOError)) throw err;
      setNonBlocking(fd, false); // fcntl(2): clear O_NONBLOCK
      clientBlocks = true;
    }
  }
  return recv(fd, 4096, WAIT);
}

/** send(2) all of `bytes`: at once when the socket buffer has room (always, for a short reply), else waiting. */
function sendReply(fd: number, bytes: Buffer): void {
  let sent = 0;
  if (!clientBlocks) {
    try {
      sent = send(fd, bytes);
      if (sent === bytes.length) return;
    } catch (err) {
      if (!(err instanceof BlockingIOError)) throw err;
    }
    setNonBlocking(fd, false);
    clientBlocks = true;
  }
  sendAll(fd, bytes.subarray(sent), WAIT);
}

/**
 * One connection: read up to the first newline, answer, and let the caller
 * close. The same protocol as Socket.readLine/send in the other examples,
 * written on the raw fd calls so that a connection costs no Socket object,
 * no string conversions and as few system calls as possible.
 */
function serve(fd: number): void {
  let data = recvSome(fd);
  let nl = data.indexOf(0x0a);
  while (nl < 0) {
    if (data.length > MAX_LINE) {
      sendReply(fd, TOO_LONG);
      return;
    }
    const more = recvSome(fd);
    if (more.length === 0) break; // EOF without a newline: answer what came
    const at = more.indexOf(0x0a);
    if (at >= 0) nl = data.length + at;
    data = Buffer.concat([data, more]);
  }
  let end = nl >= 0 ? nl : data.length;
  if (end > 0 && data[end - 1] === 0x0d) end--; // a CRLF line ending
  if (end > MAX_LINE) {
    sendReply(fd, TOO_LONG);
    return;
  }
  data.copy(reply, PREFIX.length, 0, end);
  reply[PREFIX.length + end] = 0x0a;
  sendReply(fd, reply.subarray(0, PREFIX.length + end + 1));
}

/** A worker's life: accept, serve, close, until SIGTERM. Never returns. */
function workerMain(): never {
  // The child starts with no handlers of ours (fork() forgets them), and
  // ignoring SIGINT (see spawnWorker).
  signal('SIGTERM', () => {
    workerStopping = true;
  });
  const lfd = listener.fd;
  while (!workerStopping) {
    let fd: number;
    try {
      fd = accept(lfd, ACCEPT).fd; // accept(2) on the shared listener
    } catch (err) {
      // EINTR: SIGTERM's handler ran, the loop condition ends the worker.
      // ECONNABORTED: the client gave up while queued; take the next one.
      // TimeoutError: the 24-day timeout passed; wait again.
      if (err instanceof InterruptedError || err instanceof ConnectionAbortedError || err instanceof TimeoutError)
        continue;
      throw err;
    }
    clientBlocks = false;
    try {
      serve(fd);
    } catch (err) {
      // A client that resets, hangs up early or stalls costs its own
      // connection, never the worker.
      if (!(err instanceof PosixError)) throw err;
    } finally {
      close(fd); // close(2): the worker's fd was the only one
    }
  }
  listener.close();
  _exit(0);
}

// ---- the parent ----------------------------------------------------------------

const workers = new Set<number>();
let stopping = false;
// Exit status: 0 after a requested stop, 1 when the server gave up.
let exitStatus = 0;
// Respawn guard: a worker that dies at once, again and again (a bug, a
// missing resource), must not turn the parent into a fork loop.
let recentDeaths: number[] = [];

/** fork(2) one worker. Only the parent returns from here. */
function spawnWorker(): void {
  // Ctrl-C signals the whole process group: workers ignore SIGINT from their
  // first instruction and let the parent decide; it will send SIGTERM.
  const pid = fork({ ignoreSignals: ['SIGINT'] });
  if (pid === 0) workerMain();
  workers.add(pid);
  console.log(`Worker ${pid} started`);
}

function describeStatus(s: WaitStatus): string {
  if (s.kind === 'signaled') return `killed by ${s.signal}`;
  if (s.kind === 'exited') return `exit status ${s.code}`;
  return s.kind;
}

/** A worker was reaped: say so and, unless stopping, replace it. */
function workerGone(s: WaitStatus): void {
  if (!workers.delete(s.pid)) return; // not one of ours
  if (s.kind === 'exited' && s.code === 0) console.log(`Worker ${s.pid} is shutting down`);
  else console.log(`Worker ${s.pid} died (${describeStatus(s)})`);
  if (stopping) return;
  const now = Date.now();
  recentDeaths = recentDeaths.filter((t) => now - t < 1000);
  recentDeaths.push(now);
  if (recentDeaths.length > 5 * workerCount) {
    console.error('Workers keep dying at once; giving up');
    exitStatus = 1;
    shutdown();
    return;
  }
  spawnWorker();
}

/**
 * SIGCHLD handler: reap every worker that has exited (signals coalesce, so
 * one SIGCHLD may stand for several deaths) and respawn. It runs on the
 * main thread between system calls, so forking from it is safe here, which
 * a real C signal handler could not say of most of what this does.
 */
function handleChildren(): void {
  for (;;) {
    let s: WaitStatus;
    try {
      s = waitpid(-1, WNOHANG);
    } catch (err) {
      if (err instanceof ChildProcessError) return;
      throw err;
    }
    if (s.pid === 0) return;
    if (s.kind === 'exited' || s.kind === 'signaled') workerGone(s);
  }
}

/** SIGTERM / SIGINT handler: stop respawning and ask each worker to stop. */
function shutdown(): void {
  if (stopping) return;
  stopping = true;
  console.log(`Quitting process ${getpid()}: stopping ${workers.size} workers`);
  for (const pid of workers) {
    try {
      kill(pid, 'SIGTERM'); // kill(2), by pid: only our own workers
    } catch (err) {
      if (!(err instanceof ProcessLookupError)) throw err; // already gone, not reaped yet
    }
  }
}

function main(): void {
  listener.setSockOpt(ReuseAddr, true); // setsockopt(2)
  listener.bindAddr(port); // bind(2)
  listener.listen(); // listen(2): before the fork, so every worker inherits a listening socket
  const [host, boundPort] = listener.getLocalAddr();
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Parent pid ${getpid()}; workers: ps -o pid,stat,cmd --ppid ${getpid()}`);

  // Handlers first, workers second: a worker that dies at once still
  // raises a SIGCHLD someone listens to.
  signal('SIGCHLD', handleChildren);
  signal('SIGTERM', shutdown);
  signal('SIGINT', shutdown);
  for (let i = 0; i < workerCount; i++) spawnWorker();

  // The parent has nothing to do but wait for signals. sleep() blocks until
  // one arrives; the handler has run by the time InterruptedError is thrown.
  // (The SIGTERM handler kills the workers itself, so even a SIGTERM taken
  // just before a sleep starts is followed by SIGCHLDs that end it.)
  while (!stopping) {
    try {
      sleep(3600);
    } catch (err) {
      if (!(err instanceof InterruptedError)) throw err;
    }
  }

  // Wait for the workers still running, whichever call reaps them (this
  // blocking waitpid(2) or the SIGCHLD handler while it is interrupted).
  while (workers.size > 0) {
    try {
      const s = waitpid(-1);
      if (s.kind === 'exited' || s.kind === 'signaled') workerGone(s);
    } catch (err) {
      if (err instanceof InterruptedError) continue;
      if (err instanceof ChildProcessError) break; // ECHILD: none left
      throw err;
    }
  }
  listener.close();
  process.exit(exitStatus);
}

main();
