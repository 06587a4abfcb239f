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
 * The care around that, each in a named piece (the shared ones are in
 * server-care.ts): a worker dies with its master (dieWithParent) and
 * survives fd pressure (acceptNext); a whole-line deadline per client
 * (serve); the master survives a full pids limit (spawnWorker), counts only
 * workers that crash young in its crash-loop guard and backs off instead of
 * giving up (workerGone); a graceful stop serves what the kernel already
 * accepted (stopAccepting, drainBacklog) and SIGKILLs workers still busy
 * after --grace (stopWorkers); SIGUSR1 is ignored.
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
  SOMAXCONN,
  Socket,
  dropNewConnections,
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
  isNonBlocking,
  signal,
  sleep,
  TimeoutError,
  waitpid,
  type WaitStatus,
  execSingleThreaded,
} from '../lib/index.ts';
import { declareOptions, HOST_HELP, hostOption, option, PORT_HELP, portOption } from './tools/options.ts';
import { BUSY, Episode, NO_DEBUGGER, SpareFd, backOff, dieWithParent, isPressure } from './tools/server-care.ts';

// Restart node with --single-threaded when it is missing (docs/fork-in-node.md).
execSingleThreaded();

declareOptions({
  about: `The prefork server: N workers forked up front, all accepting on one listener.\n${NO_DEBUGGER}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    workers: 'how many workers, 1 to 64 (default 2)',
    timeout: 'seconds a client has to send its whole line (default 10)',
    grace: 'seconds workers get to finish after SIGTERM/SIGINT, then SIGKILL (default 10)',
  },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
const workerCount = option('workers', 2, { min: 1, max: 64 });
// A client that trickles a byte every few seconds must not hold a worker
// for ever: the whole line, however many recv(2) calls it takes, must
// arrive within this time.
const timeoutMs = Math.ceil(option('timeout', 10, { min: 0.001, max: 3600, fractions: true }) * 1000);
const graceSeconds = option('grace', 10, { max: 3600, fractions: true });

const listener = new Socket({ domain });

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
// client off half-way, and what is left of the client's deadline.
const WAIT = { onInterrupt: 'retry' as const, timeoutMs: 0 };

let workerStopping = false;
// Whether the current connection's fd has been switched to blocking mode;
// tracked here rather than asked of the kernel with fcntl(2) each time.
let clientBlocks = false;
// When the current client's time is up (performance.now() milliseconds).
let deadline = 0;

/** What is left of the current client's deadline, for the next wait. */
function left(): typeof WAIT {
  WAIT.timeoutMs = Math.max(0, Math.ceil(deadline - performance.now()));
  return WAIT;
}

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
  return recv(fd, 4096, left());
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
  sendAll(fd, bytes.subarray(sent), left());
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

/** Serves one accepted connection and closes it; a client's failure costs only its connection. */
function serveAndClose(fd: number): void {
  clientBlocks = false;
  deadline = performance.now() + timeoutMs;
  try {
    serve(fd);
  } catch (err) {
    // A client that resets, hangs up early or runs out of time costs its
    // own connection, never the worker.
    if (!(err instanceof PosixError)) throw err;
  } finally {
    close(fd); // close(2): the worker's fd was the only one
  }
}

/**
 * accept(2) on the shared listener, surviving what comes and goes: EINTR
 * (SIGTERM's handler ran: the loop condition ends the worker), ECONNABORTED
 * (the client gave up while queued), the 24-day timeout, and pressure:
 * EMFILE/ENFILE leave the connection queued, so the spare fd takes it and
 * the client is told the server is busy; ENOBUFS/ENOMEM leave it for later.
 * EAGAIN means the master made the listener non-blocking: it is stopping.
 * Returns the fd, or -1 when there is no client this time round.
 */
function acceptNext(lfd: number, spare: SpareFd, acceptTrouble: Episode): number {
  try {
    const fd = accept(lfd, ACCEPT).fd;
    if (acceptTrouble.failures > 0) acceptTrouble.passed();
    return fd;
  } catch (err) {
    if (err instanceof InterruptedError || err instanceof ConnectionAbortedError || err instanceof TimeoutError)
      return -1;
    if (err instanceof BlockingIOError) {
      workerStopping = true;
      return -1;
    }
    if (!isPressure(err)) throw err;
    acceptTrouble.failed(err.message);
    if (err.code === 'EMFILE' || err.code === 'ENFILE') spare.turnAwayOne(lfd, BUSY);
    backOff(acceptTrouble);
    return -1;
  }
}

/**
 * After the master's SIGTERM: serve what is left in the listen queue
 * (clients the kernel has accepted, some with their request sent), without
 * waiting for more. The master has made the listener non-blocking, so
 * accept(2) says EAGAIN once the queue is empty.
 */
function drainBacklog(lfd: number): void {
  for (let n = 0; n < SOMAXCONN; n++) {
    let fd: number;
    try {
      fd = accept(lfd, { nonblock: true, timeoutMs: 0 }).fd;
    } catch (err) {
      if (err instanceof InterruptedError || err instanceof ConnectionAbortedError) continue;
      return; // EAGAIN or a timeout: the queue is empty; anything else: give up draining
    }
    serveAndClose(fd);
  }
}

/** A worker's life: accept, serve, close, until SIGTERM. Never returns. */
function workerMain(masterPid: number): never {
  // Before anything else: die with the master, even a kill -9'd one.
  dieWithParent(masterPid);
  // The child starts with no handlers of ours (fork() forgets them), and
  // ignoring SIGINT and SIGUSR1 (see spawnWorker).
  signal('SIGTERM', () => {
    workerStopping = true;
  });
  const lfd = listener.fd;
  const spare = new SpareFd();
  const acceptTrouble = new Episode(`worker ${getpid()}: accept`);
  while (!workerStopping) {
    const fd = acceptNext(lfd, spare, acceptTrouble);
    if (fd >= 0) serveAndClose(fd);
  }
  if (masterStopping(lfd)) drainBacklog(lfd);
  listener.close();
  _exit(0);
}

/** Whether the master is stopping: it makes the shared listener non-blocking then (stopAccepting). */
function masterStopping(lfd: number): boolean {
  try {
    return isNonBlocking(lfd);
  } catch {
    return false;
  }
}

// ---- the parent ----------------------------------------------------------------

const workers = new Map<number, number>(); // pid -> when it started (performance.now())
let stopping = false;
// A second SIGTERM/SIGINT: stop waiting for the workers.
let hurry = false;
const masterPid = getpid();
const forkTrouble = new Episode('fork');
// The crash-loop guard: a worker that dies young, on its own (a bug, a
// missing resource), again and again, must not turn the master into a fork
// loop. Workers an operator killed (SIGKILL, SIGTERM, ...) do not count.
const crashLoop = new Episode('workers keep dying before serving');
let recentCrashes: number[] = [];
// When the next fork of a missing worker may be tried (performance.now()).
let respawnAt = 0;

/** fork(2) one worker. Only the parent returns from here; false when fork failed (it will be tried again). */
function spawnWorker(): boolean {
  let pid: number;
  try {
    // Ctrl-C signals the whole process group: workers ignore SIGINT from
    // their first instruction and let the parent decide; it will send
    // SIGTERM. SIGUSR1 too: no debugger in a worker.
    pid = fork({ ignoreSignals: ['SIGINT', 'SIGUSR1'] });
  } catch (err) {
    // EAGAIN: a pids cgroup or RLIMIT_NPROC is full; ENOMEM. Weather: the
    // supervising loop tries again after a pause.
    if (!isPressure(err)) throw err;
    forkTrouble.failed(err.message);
    respawnAt = performance.now() + 1000 * Math.min(1, 0.05 * 2 ** Math.min(forkTrouble.failures - 1, 5));
    return false;
  }
  if (pid === 0) workerMain(masterPid);
  forkTrouble.passed();
  workers.set(pid, performance.now());
  console.log(`Worker ${pid} started`);
  return true;
}

function describeStatus(s: WaitStatus): string {
  if (s.kind === 'signaled') return `killed by ${s.signal}`;
  if (s.kind === 'exited') return `exit status ${s.code}`;
  return s.kind;
}

// Signals that someone sends to stop a process, as opposed to a crash.
const STOP_SIGNALS = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGPIPE', 'SIGUSR2']);

/** A crash before serving: ended on its own (an error exit or a fault signal) within its first second. */
function crashedYoung(s: WaitStatus, startedAt: number): boolean {
  const onItsOwn = (s.kind === 'exited' && s.code !== 0) || (s.kind === 'signaled' && !STOP_SIGNALS.has(s.signal!));
  return onItsOwn && performance.now() - startedAt < 1000;
}

/** A worker was reaped: say so and, unless stopping, replace it (at once, or later in a crash loop). */
function workerGone(s: WaitStatus): void {
  const startedAt = workers.get(s.pid);
  if (startedAt === undefined) return; // not one of ours
  workers.delete(s.pid);
  if (s.kind === 'exited' && s.code === 0) console.log(`Worker ${s.pid} is shutting down`);
  else console.log(`Worker ${s.pid} died (${describeStatus(s)})`);
  if (stopping) return;
  const now = performance.now();
  recentCrashes = recentCrashes.filter((t) => now - t < 10_000);
  if (crashedYoung(s, startedAt)) recentCrashes.push(now);
  if (recentCrashes.length > 3 * workerCount) {
    // Back off instead of giving up: the cause (a full disk, a missing
    // file, a dependency down) may pass. 1 s, doubling, at most 30 s.
    crashLoop.failed(`${recentCrashes.length} in 10 s`);
    respawnAt = now + 1000 * Math.min(30, 2 ** Math.min(crashLoop.failures - 1, 5));
    return;
  }
  if (crashLoop.failures > 0 && recentCrashes.length === 0) crashLoop.passed();
  if (now >= respawnAt) spawnWorker();
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

/**
 * The first step of a graceful stop. The listening socket is shared with
 * the workers, so closing the master's copy alone does not close it: a
 * socket filter that drops incoming SYNs makes the kernel take no new
 * connection, and O_NONBLOCK on the shared file makes the workers'
 * accept(2) return EAGAIN once the queue is empty, so that they serve what
 * is queued (drainBacklog) and leave. Then the master closes its copy.
 */
function stopAccepting(): void {
  dropNewConnections(listener.fd);
  setNonBlocking(listener.fd, true);
  listener.close();
}

/** SIGTERM / SIGINT handler: stop accepting, stop respawning and ask each worker to stop. */
function shutdown(): void {
  if (stopping) {
    hurry = true; // a second one: stop waiting for the workers
    return;
  }
  stopping = true;
  console.log(`Quitting process ${getpid()}: stopping ${workers.size} workers`);
  stopAccepting();
  for (const pid of workers.keys()) {
    try {
      kill(pid, 'SIGTERM'); // kill(2), by pid: only our own workers
    } catch (err) {
      if (!(err instanceof ProcessLookupError)) throw err; // already gone, not reaped yet
    }
  }
}

/** Sleeps until a signal or `seconds`, whichever comes first. */
function pause(seconds: number): void {
  try {
    sleep(Math.max(0.001, seconds));
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
  }
}

/**
 * After the stop: wait for the workers to finish, but not for ever: after
 * --grace seconds (or a second SIGTERM/SIGINT) the ones left are stuck, and
 * SIGKILL ends them. Then reap them all.
 */
function stopWorkers(): void {
  const deadline = performance.now() + graceSeconds * 1000;
  while (workers.size > 0 && !hurry && performance.now() < deadline) pause(0.25);
  if (workers.size > 0) {
    console.log(`Killing ${workers.size} workers that did not stop in time`);
    for (const pid of workers.keys()) kill(pid, 'SIGKILL');
  }
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
}

function main(): void {
  listener.setSockOpt(ReuseAddr, true); // setsockopt(2)
  listener.bindAddr(port, listenAddress); // bind(2)
  listener.listen(); // listen(2): before the fork, so every worker inherits a listening socket
  const [host, boundPort] = listener.getLocalAddr();
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Parent pid ${getpid()}; workers: ps -o pid,stat,cmd --ppid ${getpid()}`);

  // Handlers first, workers second: a worker that dies at once still
  // raises a SIGCHLD someone listens to.
  signal('SIGCHLD', handleChildren);
  signal('SIGTERM', shutdown);
  signal('SIGINT', shutdown);
  signal('SIGUSR1', 'ignore'); // no debugger on a signal
  for (let i = 0; i < workerCount && spawnWorker(); i++);

  // The parent has nothing to do but wait for signals, and fork the
  // workers that are missing when their time has come. sleep() blocks until
  // a signal arrives; the handler has run by the time InterruptedError is
  // thrown. (A signal taken just before a sleep starts costs at most the
  // second the sleep is bounded by.)
  while (!stopping) {
    const now = performance.now();
    if (workers.size < workerCount && now >= respawnAt) {
      if (spawnWorker()) continue;
    }
    pause(workers.size < workerCount ? Math.min(1, (respawnAt - now) / 1000) : 1);
  }

  stopWorkers();
  process.exit(0);
}

main();
