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
 * Run it:   npm start                  (port 9093)
 *           npm start -- --port 9200 --linger 0
 *           npm start -- --help    (the options)
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 * Watch it: WTF_TRACE=1 npm start      (each system call of this package, strace style)
 *
 * In your own project, import from 'what-the-fork' instead of '../lib'.
 */
import {
  ChildProcessError,
  InterruptedError,
  ReuseAddr,
  Socket,
  WNOHANG,
  _exit,
  fork,
  getpid,
  signal,
  sleep,
  waitpid,
  execSingleThreaded,
} from '../lib/index.ts';
import { PORT_HELP, declareOptions, option, portOption } from './tools/options.ts';

// A forked Node child needs V8 to keep all its work on this thread
// (docs/fork-in-node.md). `npm start` passes --single-threaded; run as
// plain `node forking-server.js`, this execve(2)s node again with the flag
// (same pid, same fds) before anything else happens.
execSingleThreaded();

// ---- settings: --port / PORT, --linger, --timeout ----------------------------

declareOptions({
  about: 'The forking server: one child per connection, reaped on SIGCHLD.',
  values: {
    port: PORT_HELP,
    linger: 'seconds a child stays after its reply, standing in for work (default 3)',
    timeout: 'seconds a child waits for the client to send its line (default 30)',
  },
});
const port = portOption();
const lingerSeconds = option('linger', 3, { max: 3600, fractions: true });
// A client that connects and says nothing must not hold its child (and a
// clean shutdown, which waits for the children) for ever.
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
// A client may send at most this much before its newline: the server never
// buffers an unbounded line.
const MAX_LINE = 64 * 1024;

// The listening socket lives at module level so the shutdown handler can
// close it, like the global socket of the original program.
const listener = new Socket();
let running = true;

/**
 * Runs in the child: read one line, answer it, hang up, then linger to
 * stand in for real work. The reply goes out before the linger, so the
 * client never waits for it.
 */
function handleConnection(client: Socket): void {
  let line: string;
  try {
    // recv(2) until the newline, for at most timeoutSeconds (TimeoutError)
    line = client.readLine(MAX_LINE, { timeoutMs: Math.ceil(timeoutSeconds * 1000) });
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
  client.send(`SERVED BY Node: ${line}\n`); // send(2) until every byte is out
  client.close(); // close(2): the last fd of this connection, so the client sees EOF
  // sleep(3)'s job, done with poll(2) so that a handled signal would cut it short
  if (lingerSeconds > 0) sleep(lingerSeconds);
}

/**
 * SIGINT / SIGTERM handler. It runs on the main thread, from inside the
 * interrupted accept(2), never inside the C signal handler, so it may do
 * anything: close the listener and let the loop wind down.
 */
function exitSuccessfully(): void {
  if (!running) {
    // A second Ctrl-C: stop waiting for the workers.
    process.exit(0);
  }
  console.log(`Quitting process ${getpid()}`);
  running = false;
  listener.close(); // close(2): new clients are refused from now on
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
    console.log(`Worker ${pid} is shutting down`);
  }
}

/** After shutdown: wait for the children still serving, so none is left behind. */
function waitForWorkers(): void {
  for (;;) {
    try {
      const { pid } = waitpid(-1, { onInterrupt: 'retry' }); // blocks until one exits
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
  listener.bindAddr(port); // bind(2) to 0.0.0.0:port
  listener.listen(); // listen(2): the kernel now completes handshakes for us

  const [host, boundPort] = listener.getLocalAddr(); // getsockname(2)
  console.log(`Listening on: ${host}:${boundPort}`);

  // This package's signal() installs the handler with sigaction(2) and
  // without SA_RESTART, as System V's signal(2) did: a signal that arrives
  // while accept(2) blocks makes it fail with EINTR once the handler has
  // run. (glibc's signal() sets SA_RESTART, and accept(2) would just go on.)
  signal('SIGINT', exitSuccessfully);
  signal('SIGTERM', exitSuccessfully);
  signal('SIGCHLD', handleChildren);

  // (The original accepts into one reused client socket, which it creates
  // up front with an fd of its own; here accept(2) hands back a new Socket
  // for each connection, so the server holds no fd between connections.)
  while (running) {
    let client: Socket;
    try {
      client = listener.accept(); // accept(2): blocks until a client connects
    } catch (err) {
      // EINTR: a signal's handler ran (usually SIGCHLD); just accept again.
      if (err instanceof InterruptedError) continue;
      // The shutdown handler closed the listener under us.
      if (!running) break;
      listener.close();
      throw err;
    }

    // fork(2) returns twice: 0 in the new child, the child's pid here.
    // Ctrl-C in a terminal sends SIGINT to the whole process group, children
    // included; they ignore it from their first instruction, so a reply is
    // never cut short (setting it in the child's code would leave a window).
    const pid = fork({ ignoreSignals: ['SIGINT'] });
    if (pid === 0) {
      // The child holds copies of both sockets. It closes its copy of the
      // listener: only the parent accepts.
      listener.close();
      handleConnection(client);
      _exit(0); // _exit(2): leave at once, without Node's teardown
    }
    // The parent closes its copy of the client socket; otherwise the
    // connection would stay open after the child hangs up, and the parent
    // would run out of fds.
    client.close();
  }

  waitForWorkers();
  process.exit(0);
}

main();
