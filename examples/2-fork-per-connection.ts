/**
 * Lesson 2: fork per connection.
 *
 * The iterative server (examples/1-iterative-server.ts) serves one client at a
 * time: while it talks to one, the next waits in the listen queue. Here the
 * server hands each connection to a fresh process made by fork(2), and goes
 * straight back to accept(2), so a slow client no longer holds up the rest.
 *
 * Both duplicate fds are closed (the child's copy of the listener, the
 * parent's copy of the client), so each connection ends when its child hangs
 * up. What this step deliberately leaves out is reaping: nobody calls
 * waitpid(2), so every finished child stays in the process table as a
 * zombie (state Z in ps) until this server itself exits. Then the zombies
 * are handed to init (or the nearest subreaper), which reaps them. The next
 * lessons make that visible (examples/3-zombies.ts) and fix it
 * (examples/5-reap-loop.ts).
 *
 * Run it:   npm run build
 *           node --single-threaded dist/examples/2-fork-per-connection.js --port 9093
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 * Look:     ps -o pid,stat,cmd --ppid <pid printed at start>   (one Z per request)
 * Stop it:  Ctrl-C (no handler: SIGINT's default action ends the process)
 */
import { Socket, ReuseAddr, _exit, fork, getpid, signal, execSingleThreaded } from '../lib/index.ts';
import { declareOptions, HOST_HELP, hostOption, option, PORT_HELP, portOption } from './tools/options.ts';
import { SIGUSR1_IGNORED } from './tools/server-care.ts';

// Restart node with --single-threaded when it is missing (docs/fork-in-node.md).
execSingleThreaded();

declareOptions({
  about: `Lesson 2: fork per connection.\n${SIGUSR1_IGNORED}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    timeout: 'seconds a client has to send its whole line (default 30)',
  },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
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

function main(): void {
  const listener = new Socket({ domain }); // socket(2)
  listener.setSockOpt(ReuseAddr, true); // setsockopt(2) SO_REUSEADDR
  listener.bindAddr(port, listenAddress); // bind(2)
  listener.listen(); // listen(2)
  const [host, boundPort] = listener.getLocalAddr(); // getsockname(2)
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Server pid ${getpid()}; its children: ps -o pid,stat,cmd --ppid ${getpid()}`);

  // No signal handlers at all: nothing interrupts accept(2), and no one ever
  // collects a child's exit status. One signal is ignored, which is not the
  // same as handled (an ignored signal interrupts nothing): SIGUSR1, on
  // which Node would open its debugger, a thread and a listening socket on
  // 127.0.0.1:9229, in a process that forks.
  signal('SIGUSR1', 'ignore'); // no debugger on a signal

  for (;;) {
    const client = listener.accept(); // accept(2): blocks until a client connects

    // fork(2): from here on two processes run this code. Each holds its own
    // copy of BOTH fds, pointing at the same open sockets in the kernel.
    // fork() puts back, in the child, the signal dispositions this package
    // changed, so the child is told to ignore SIGUSR1 itself, from its
    // first instruction.
    const pid = fork({ ignoreSignals: ['SIGUSR1'] });
    if (pid === 0) {
      // The child serves; it has no business with the listener.
      listener.close();
      handleConnection(client);
      // _exit(2) rather than process.exit(): Node's teardown would wait for
      // threads that were not copied into this process (docs/fork-in-node.md).
      // The exit status now waits in the kernel for a waitpid(2) that never
      // comes: this child is a zombie from here on.
      _exit(0);
    }
    // The parent drops its copy of the connection at once. A TCP connection
    // ends only when every fd for it is closed, so without this the client
    // would get its reply but never EOF (see examples/3-zombies.ts --no-close).
    client.close();
  }
}

main();
