/**
 * Lesson 4: reaping with a SIGCHLD handler, done naively. It crashes.
 *
 * When a child exits, the kernel sends its parent SIGCHLD (signal(7)). So
 * the obvious fix for zombies is a SIGCHLD handler that calls waitpid(2).
 * This one has two mistakes:
 *
 * 1. The accept loop does not expect EINTR. This package's signal()
 *    installs the handler with sigaction(2) and no SA_RESTART (glibc's
 *    signal() would set SA_RESTART and restart the call), so when SIGCHLD
 *    arrives while the parent sits in accept(2), the kernel runs the handler
 *    and then makes accept(2) fail with EINTR ("Interruption of system calls
 *    and library functions by signal handlers" in signal(7)). Here that
 *    failure is InterruptedError, and nothing catches it: the first child
 *    that exits takes the server down, right after its client got a reply.
 *    (Python did the same until PEP 475; C code checks for EINTR by hand.)
 *
 * 2. The handler reaps ONE child per signal. Signals are not queued: while
 *    SIGCHLD is pending, more children exiting do not add more SIGCHLDs. If
 *    three children exit together, the handler may run once, reap one, and
 *    leave two zombies. Start it with --catch-eintr to get past mistake 1
 *    and watch mistake 2 under load (examples/tools/client.ts), with
 *        ps -o pid,stat,cmd --ppid <pid>
 *
 * examples/5-reap-loop.ts fixes both.
 *
 * Run it:   npm run build
 *           node --single-threaded dist/examples/4-naive-sigchld.js
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 *           (you get the reply; the server prints "Worker <pid> is shutting
 *           down" and then dies of "InterruptedError: accept EINTR", status 1)
 * Trace it: WTF_TRACE=1 node --single-threaded dist/examples/4-naive-sigchld.js
 *           shows accept(<fd>) = -1 EINTR (Interrupted system call)
 */
import {
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
  about: `Lesson 4: a SIGCHLD handler, and the EINTR that crashes the accept loop.\n${SIGUSR1_IGNORED}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    timeout: 'seconds a client has to send its whole line (default 30)',
  },
  switches: { 'catch-eintr': 'catch InterruptedError around accept, as lesson 5 does' },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
const catchEintr = switchOption('catch-eintr');
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
 * The naive handler: one waitpid(2) per SIGCHLD. WNOHANG keeps it from
 * blocking if there is nothing to collect after all.
 */
function reapOne(): void {
  const { pid } = waitpid(-1, WNOHANG);
  if (pid > 0) console.log(`Worker ${pid} is shutting down`);
}

function main(): void {
  const listener = new Socket({ domain });
  listener.setSockOpt(ReuseAddr, true);
  listener.bindAddr(port, listenAddress);
  listener.listen();
  const [host, boundPort] = listener.getLocalAddr();
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Server pid ${getpid()}; its children: ps -o pid,stat,cmd --ppid ${getpid()}`);

  // sigaction(2) without SA_RESTART, so the handler interrupts accept(2).
  signal('SIGCHLD', reapOne);
  // Ignored, not handled, so it interrupts nothing (lesson 2).
  signal('SIGUSR1', 'ignore'); // no debugger on a signal

  for (;;) {
    let client: Socket;
    if (catchEintr) {
      try {
        client = listener.accept();
      } catch (err) {
        if (err instanceof InterruptedError) continue;
        throw err;
      }
    } else {
      // The mistake: accept(2) can fail with EINTR once any handler exists,
      // and this loop does not expect it. The InterruptedError escapes
      // main() and Node ends the process with status 1.
      client = listener.accept();
    }

    const pid = fork({ ignoreSignals: ['SIGUSR1'] }); // SIGUSR1 ignored in the child too
    if (pid === 0) {
      listener.close();
      handleConnection(client);
      _exit(0); // the parent gets SIGCHLD now
    }
    client.close();
  }
}

main();
