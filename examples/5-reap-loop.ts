/**
 * Lesson 5: the reap loop, which fixes both mistakes of
 * examples/4-naive-sigchld.ts.
 *
 * 1. One SIGCHLD can stand for many exits: a signal that is already pending
 *    is not queued a second time (signal(7)). So the handler does not reap
 *    one child; it calls waitpid(2) with WNOHANG again and again until it
 *    reports nothing more to collect (pid 0: children left, none finished)
 *    or ECHILD (no children at all). No zombie outlives the next SIGCHLD.
 *
 * 2. A handler without SA_RESTART makes the accept(2) it interrupted fail
 *    with EINTR. That is not an error, only "a signal came, its handler
 *    ran": the loop catches InterruptedError and calls accept(2) again.
 *    (sigaction(2) with SA_RESTART, here `sigaction('SIGCHLD', h,
 *    { restart: true })`, would have the call restarted for us instead.)
 *
 * This is the core of examples/forking-server.ts (lesson 6), which adds a
 * clean shutdown, a linger in each child, and the care a server that people
 * run needs: a cap on children, resource limits survived, children that die
 * with the server.
 *
 * Run it:   npm run build
 *           node --single-threaded dist/examples/5-reap-loop.js
 * Load it:  node dist/examples/tools/client.js --connections 2000 --concurrency 16
 * Look:     ps -o pid,stat,cmd --ppid <pid>   (no Z lines, even under load)
 * Stop it:  Ctrl-C (SIGINT's default action; no child is left behind,
 *           since each one has exited and been reaped after its reply)
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
  waitpid,
  execSingleThreaded,
} from '../lib/index.ts';
import { declareOptions, HOST_HELP, hostOption, option, PORT_HELP, portOption, switchOption } from './tools/options.ts';
import { SIGUSR1_IGNORED } from './tools/server-care.ts';

// Restart node with --single-threaded when it is missing (docs/fork-in-node.md).
execSingleThreaded();

declareOptions({
  about: `Lesson 5: the reap loop that fixes lesson 4.\n${SIGUSR1_IGNORED}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    timeout: 'seconds a client has to send its whole line (default 30)',
  },
  switches: { quiet: 'do not print a line per reaped child' },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
// Printing a line per reaped child is the blog's way; --quiet drops it for
// load runs.
const quiet = switchOption('quiet');
// A client that connects and says nothing must not hold its child for ever.
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
// A client may send at most this much before its newline: the server never
// buffers an unbounded line.
const MAX_LINE = 64 * 1024;
// The reply is bytes: this prefix, the client's line exactly as it came
// (bytes that are not UTF-8 too), a newline.
const PREFIX = Buffer.from('SERVED BY Node: ');
const NEWLINE = Buffer.from('\n');

/** In the child: one line in, one line out, hang up. */
function handleConnection(client: Socket): void {
  let line: Buffer;
  try {
    // recv(2) until the newline, for at most timeoutSeconds (TimeoutError);
    // the line as the bytes that came, not as text
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
}

/**
 * SIGCHLD handler: collect every finished child, not just one. It runs on
 * the main thread, after the C-level handler has only noted the signal, so
 * printing here is safe (unlike printing inside a real signal handler; see
 * signal-safety(7)).
 */
function handleChildren(): void {
  for (;;) {
    let pid: number;
    try {
      pid = waitpid(-1, WNOHANG).pid; // waitpid(2), never blocks
    } catch (err) {
      if (err instanceof ChildProcessError) return; // ECHILD: no children at all
      throw err;
    }
    if (pid === 0) return; // children remain, none has finished
    if (!quiet) console.log(`Worker ${pid} is shutting down`);
  }
}

function main(): void {
  const listener = new Socket({ domain });
  listener.setSockOpt(ReuseAddr, true);
  listener.bindAddr(port, listenAddress);
  listener.listen();
  const [host, boundPort] = listener.getLocalAddr();
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Server pid ${getpid()}; its children: ps -o pid,stat,cmd --ppid ${getpid()}`);

  signal('SIGCHLD', handleChildren);
  signal('SIGUSR1', 'ignore'); // no debugger on a signal (lesson 2)

  for (;;) {
    let client: Socket;
    try {
      client = listener.accept(); // accept(2)
    } catch (err) {
      // EINTR: handleChildren has already run; go back to waiting for clients.
      if (err instanceof InterruptedError) continue;
      throw err;
    }
    const pid = fork({ ignoreSignals: ['SIGUSR1'] }); // SIGUSR1 ignored in the child too
    if (pid === 0) {
      listener.close();
      handleConnection(client);
      _exit(0);
    }
    client.close();
  }
}

main();
