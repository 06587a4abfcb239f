/**
 * The forking echo server, rebuilt in TypeScript piece by piece:
 * handleConnection, exitSuccessfully, handleChildren, main, in that order,
 * plus waitForWorkers, which the original lacks: on shutdown the server
 * waits for the children still serving instead of leaving them behind.
 *
 * One process listens. For every connection it fork(2)s: the child serves
 * the client and exits, the parent goes straight back to accept(2). When a
 * child exits the kernel sends the parent SIGCHLD; the handler reaps every
 * finished child with waitpid(2), and the accept(2) it interrupted fails
 * with EINTR, which the loop shrugs off.
 *
 * The care the blog's program leaves out, each in a named piece (see
 * server-care.ts for the shared ones): a cap on children (waitForASlot),
 * limits that come and go survived instead of died of (acceptClient,
 * forkChild), a child that dies with its parent (dieWithParent), the whole
 * line read against one deadline, exact bytes echoed, a graceful stop that
 * serves what the kernel already accepted (drainBacklog) and gives children
 * a deadline (waitForWorkers), and SIGUSR1 ignored.
 *
 * Run it:   npm start                  (port 9093)
 *           npm start -- --port 9200 --linger 0
 *           npm start -- --help    (the options)
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 * Watch it: WTF_TRACE=1 npm start      (each system call of this package, strace style)
 *
 * In your own project, import from 'what-the-fork' instead of '../lib'.
 */
import {
  BlockingIOError,
  ChildProcessError,
  ConnectionAbortedError,
  InterruptedError,
  ReuseAddr,
  SOMAXCONN,
  Socket,
  dropNewConnections,
  WNOHANG,
  _exit,
  fork,
  getpid,
  isTracing,
  setTrace,
  kill,
  setNonBlocking,
  signal,
  sleep,
  socketpair,
  waitpid,
  execSingleThreaded,
} from '../lib/index.ts';
import { declareOptions, HOST_HELP, hostOption, option, PORT_HELP, portOption } from './tools/options.ts';
import {
  BUSY,
  Episode,
  NO_DEBUGGER,
  SpareFd,
  backOff,
  compileDieWithParent,
  dieWithParent,
  isPressure,
  turnAway,
} from './tools/server-care.ts';

// A forked Node child needs V8 to keep all its work on this thread
// (docs/fork-in-node.md). `npm start` passes --single-threaded; run as
// plain `node forking-server.js`, this execve(2)s node again with the flag
// (same pid, same fds) before anything else happens.
execSingleThreaded();

// ---- settings: --port / PORT, --linger, --timeout, --max-children, --grace ----

declareOptions({
  about: `The forking server: one child per connection, reaped on SIGCHLD.\n${NO_DEBUGGER}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    linger: 'seconds a child stays after its reply, standing in for work (default 3)',
    timeout: 'seconds a client has to send its whole line (default 30)',
    'max-children': 'children at most at a time; at the cap, new clients wait in the kernel queue (default 128)',
    grace: 'seconds children get to finish after SIGTERM/SIGINT, then SIGKILL (default 10)',
  },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
const lingerSeconds = option('linger', 3, { max: 3600, fractions: true });
// A client that connects and says nothing, or trickles a byte now and then,
// must not hold its child (and a clean shutdown, which waits for the
// children) for ever: the whole line must arrive within this time.
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
// The blog's server forks for every connection, however many: 1,000 idle
// connections make 1,000 children (half a gigabyte), and under a pids limit
// fork fails. Like Python's socketserver (max_children), this one stops
// accepting at a cap and goes on when a child has been reaped; the clients
// beyond it wait in the kernel's listen queue, accepted but not yet served.
const maxChildren = option('max-children', 128, { min: 1, max: 100_000 });
const graceSeconds = option('grace', 10, { max: 3600, fractions: true });
// A client may send at most this much before its newline: the server never
// buffers an unbounded line.
const MAX_LINE = 64 * 1024;

// The listening socket lives at module level so the shutdown handler can
// reach it, like the global socket of the original program.
const listener = new Socket({ domain });
let running = true;
// A second SIGINT/SIGTERM: stop waiting for the children.
let hurry = false;
// The children serving now (forked, not yet reaped), for the cap and the shutdown.
const children = new Set<number>();
const PREFIX = Buffer.from('SERVED BY Node: ');
const NEWLINE = Buffer.from('\n');
// Troubles that come and go, each logged once per episode.
const acceptTrouble = new Episode('accept');
const forkTrouble = new Episode('fork');
const atCap = new Episode(`at --max-children ${maxChildren}`, (line) => console.log(line), '');

/**
 * Runs in the child: read one line, answer it, hang up, then linger to
 * stand in for real work. The reply goes out before the linger, so the
 * client never waits for it.
 */
function handleConnection(client: Socket, linger = lingerSeconds): void {
  let line: Buffer;
  try {
    // recv(2) until the newline, for at most timeoutSeconds in all
    // (TimeoutError). As bytes: what the client sent is echoed exactly, even
    // bytes that are not UTF-8.
    line = client.readLineBytes(MAX_LINE, { timeoutMs: Math.ceil(timeoutSeconds * 1000) });
  } catch (err) {
    // Too long a line, a silent client, or a reset: say so if the client
    // still listens (the send may fail too, and that is no news), hang up.
    try {
      client.send(`ERROR: ${(err as Error).message}\n`);
    } catch {
      // the connection is gone
    }
    client.close();
    return;
  }
  client.send(Buffer.concat([PREFIX, line, NEWLINE])); // send(2) until every byte is out
  client.close(); // close(2): the last fd of this connection, so the client sees EOF
  // sleep(3)'s job, done with poll(2) so that a handled signal would cut it short
  if (linger > 0) sleep(linger);
}

/**
 * SIGINT / SIGTERM handler. It runs on the main thread, from inside the
 * interrupted accept(2), never inside the C signal handler, so it may do
 * anything. The blog's program closes the listener here, which resets every
 * connection still in the kernel's queue, requests and all. This one only
 * makes accept(2) stop waiting (O_NONBLOCK on the listener, so an accept
 * that starts after this handler ran returns at once) and lets the loop
 * wind down; drainBacklog then serves what is queued.
 */
function exitSuccessfully(): void {
  if (!running) {
    // A second Ctrl-C: stop waiting for the children.
    hurry = true;
    return;
  }
  console.log(`Quitting process ${getpid()}`);
  running = false;
  setNonBlocking(listener.fd, true); // fcntl(2)
}

/**
 * SIGCHLD handler: reap every child that has finished. One SIGCHLD may stand
 * for many exits (pending signals coalesce), so loop until waitpid(2) with
 * WNOHANG says nobody else is done (pid 0) or there are no children (ECHILD).
 * Without this, every finished child stays a zombie in the process table.
 */
function handleChildren(): void {
  for (;;) {
    let pid: number;
    try {
      pid = waitpid(-1, WNOHANG).pid;
    } catch (err) {
      if (err instanceof ChildProcessError) return;
      throw err;
    }
    if (pid === 0) return;
    children.delete(pid);
    console.log(`Worker ${pid} is shutting down`);
  }
}

/** Sleeps until a signal (SIGCHLD: a slot may be free) or a quarter second. */
function pause(): void {
  try {
    sleep(0.25);
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
  }
}

/**
 * The cap: at --max-children the parent does not accept, so new clients
 * wait in the kernel's queue, until the SIGCHLD handler has reaped a child.
 */
function waitForASlot(): void {
  while (children.size >= maxChildren && !hurry) {
    atCap.failed('new clients wait in the listen queue');
    pause();
  }
  atCap.passed();
}

/**
 * accept(2), surviving what comes and goes: EINTR (a handler ran),
 * ECONNABORTED (the client left while queued), and pressure. EMFILE/ENFILE
 * leave the connection queued, so the spare fd takes it and the client is
 * told the server is busy; ENOBUFS/ENOMEM leave it queued for later. Either
 * way the loop backs off briefly and goes on. Returns undefined when there
 * is no client to serve this time round.
 */
function acceptClient(spare: SpareFd): Socket | undefined {
  try {
    const client = listener.accept(); // accept(2): blocks until a client connects
    acceptTrouble.passed();
    return client;
  } catch (err) {
    // EINTR: a signal's handler ran (usually SIGCHLD); just accept again.
    // EAGAIN: the shutdown handler made the listener non-blocking.
    if (err instanceof InterruptedError || err instanceof BlockingIOError) return undefined;
    if (err instanceof ConnectionAbortedError) return undefined;
    if (!isPressure(err)) throw err;
    acceptTrouble.failed(err.message);
    if (err.code === 'EMFILE' || err.code === 'ENFILE') spare.turnAwayOne(listener.fd, BUSY);
    backOff(acceptTrouble);
    return undefined;
  }
}

/**
 * fork(2) for one client, surviving EAGAIN (a pids cgroup or RLIMIT_NPROC
 * is full) and ENOMEM: back off and try again for about a second and a
 * half (a reaped child frees a pid), then tell this client the server is
 * busy. Returns the pid in the parent, 0 in the child.
 */
function forkChild(client: Socket): number | undefined {
  for (let attempt = 0; ; attempt++) {
    try {
      // Ctrl-C in a terminal sends SIGINT to the whole process group,
      // children included; they ignore it from their first instruction, so
      // a reply is never cut short. SIGUSR1 too: no debugger in a child.
      const pid = fork({ ignoreSignals: ['SIGINT', 'SIGUSR1'] });
      if (pid !== 0) forkTrouble.passed();
      return pid;
    } catch (err) {
      if (!isPressure(err)) throw err;
      forkTrouble.failed(err.message);
      if (attempt >= 5 || hurry) {
        turnAway(client.fd, BUSY);
        client.close();
        return undefined;
      }
      backOff(forkTrouble);
    }
  }
}

/**
 * V8 compiles a function the first time it runs. What only children run
 * would be compiled afresh in every child, and a child that compiles
 * anything faults in the compiler's own code, page by page (fork(2) does
 * not copy the page tables of Node's executable): about a fifth of a
 * child's page faults (docs/performance.md). So the server runs a child's
 * work once itself before the first fork, harmlessly: handleConnection on
 * one end of a socketpair(2), dieWithParent and _exit on arguments they
 * refuse before any system call. The trace (WTF_TRACE=1) leaves it out: it
 * shows the server's work, not its rehearsal.
 */
function rehearseChild(): void {
  const tracing = isTracing();
  setTrace(false);
  try {
    rehearseQuietly();
  } finally {
    setTrace(tracing);
  }
}

function rehearseQuietly(): void {
  compileDieWithParent();
  try {
    _exit(-1);
  } catch {
    // RangeError, as intended
  }
  let ends: Socket[] = [];
  try {
    ends = socketpair('AF_UNIX', 'SOCK_STREAM').map((fd) => new Socket({ fd }));
    const [ours, theirs] = ends;
    theirs.send('rehearsal\n');
    handleConnection(ours, 0); // answers, and closes its end; the answer is left unread
  } catch {
    // a rehearsal that fails (EMFILE, say) costs only the saving
  } finally {
    for (const end of ends) end.close();
  }
}

/** The parent's side of one connection: fork a child to serve it. */
function serveInChild(client: Socket, parentPid: number): void {
  // fork(2) returns twice: 0 in the new child, the child's pid here.
  const pid = forkChild(client);
  if (pid === undefined) return;
  if (pid === 0) {
    dieWithParent(parentPid);
    // The child holds copies of both sockets. It closes its copy of the
    // listener: only the parent accepts.
    listener.close();
    handleConnection(client);
    _exit(0); // _exit(2): leave at once, without Node's teardown
  }
  children.add(pid);
  // The parent closes its copy of the client socket; otherwise the
  // connection would stay open after the child hangs up, and the parent
  // would run out of fds.
  client.close();
}

/**
 * A graceful stop serves what the kernel already accepted: connections in
 * the listen queue have finished their handshake and their clients may have
 * sent a request; closing the listener would reset them. So: no new
 * handshakes first (a socket filter drops incoming SYNs), then accept
 * without waiting until the queue is empty, and only then close.
 */
function drainBacklog(spare: SpareFd, parentPid: number): void {
  dropNewConnections(listener.fd);
  setNonBlocking(listener.fd, true);
  for (let n = 0; n < SOMAXCONN && !hurry; n++) {
    if (children.size >= maxChildren) waitForASlot();
    let client: Socket;
    try {
      client = listener.accept();
    } catch (err) {
      if (err instanceof BlockingIOError) return; // EAGAIN: the queue is empty
      if (err instanceof InterruptedError || err instanceof ConnectionAbortedError) continue;
      if (!isPressure(err)) throw err;
      if (err.code === 'EMFILE' || err.code === 'ENFILE') spare.turnAwayOne(listener.fd, BUSY);
      continue;
    }
    serveInChild(client, parentPid);
  }
}

/**
 * After shutdown: wait for the children still serving, so none is left
 * behind, but not for ever: after --grace seconds (or a second SIGINT or
 * SIGTERM) the ones left are stuck, and SIGKILL ends them.
 */
function waitForWorkers(): void {
  const deadline = performance.now() + graceSeconds * 1000;
  while (children.size > 0 && !hurry && performance.now() < deadline) pause();
  if (children.size > 0) {
    console.log(`Killing ${children.size} children that did not finish in time`);
    for (const pid of children) kill(pid, 'SIGKILL'); // kill(2), by pid: only our own children
  }
  for (;;) {
    try {
      const { pid } = waitpid(-1, { onInterrupt: 'retry' }); // blocks until one exits
      children.delete(pid);
      console.log(`Worker ${pid} is shutting down`);
    } catch (err) {
      if (err instanceof ChildProcessError) return; // ECHILD: all reaped
      throw err;
    }
  }
}

function main(): void {
  // setsockopt(2) SO_REUSEADDR: a restarted server can bind at once, even
  // while connections of the previous run sit in TIME_WAIT.
  listener.setSockOpt(ReuseAddr, true);
  listener.bindAddr(port, listenAddress); // bind(2) to --host:port
  listener.listen(); // listen(2): the kernel now completes handshakes for us
  // One fd in reserve for EMFILE (server-care.ts), taken before the banner
  // so that the fds the server holds from then on stay the same.
  const spare = new SpareFd();
  // A child's work, run once here so that children find it compiled; before
  // the banner too, as its socketpair comes and goes.
  rehearseChild();

  const [host, boundPort] = listener.getLocalAddr(); // getsockname(2)
  console.log(`Listening on: ${host}:${boundPort}`);

  // This package's signal() installs the handler with sigaction(2) and
  // without SA_RESTART, as System V's signal(2) did: a signal that arrives
  // while accept(2) blocks makes it fail with EINTR once the handler has
  // run. (glibc's signal() sets SA_RESTART, and accept(2) would just go on.)
  signal('SIGINT', exitSuccessfully);
  signal('SIGTERM', exitSuccessfully);
  signal('SIGCHLD', handleChildren);
  signal('SIGUSR1', 'ignore'); // no debugger on a signal

  // (The original accepts into one reused client socket, which it creates
  // up front with an fd of its own; here accept(2) hands back a new Socket
  // for each connection, so the server holds no fd between connections,
  // only the spare kept for EMFILE.)
  const parentPid = getpid();
  while (running) {
    if (children.size >= maxChildren) {
      waitForASlot();
      continue;
    }
    const client = acceptClient(spare);
    if (client === undefined) continue;
    serveInChild(client, parentPid);
  }

  drainBacklog(spare, parentPid);
  // shutdown(2) on the listening socket itself: it stops listening at once,
  // in every process. A child forked a moment ago may not have closed its
  // copy yet, and close(2) here alone would leave the socket listening
  // until it has: clients queued in between would then be reset.
  listener.shutdown('SHUT_RD');
  listener.close(); // close(2): new clients are refused from now on
  waitForWorkers();
  process.exit(0);
}

main();
