/**
 * Lesson 3: the two things a forking server must clean up, shown by leaving
 * them undone.
 *
 * 1. Zombies. A child that exits keeps its process-table slot (pid, exit
 *    status) until its parent collects it with waitpid(2). This server never
 *    does while it serves, so every finished child shows as state Z:
 *        ps -o pid,stat,cmd --ppid <pid>
 *    Zombies hold no memory and no fds, but each holds a pid; enough of them
 *    and fork(2) fails with EAGAIN. That is why this server stops by itself
 *    after --max connections (default 50), then reaps them all and exits.
 *
 * 2. Duplicate fds (with --no-close). After fork(2) the parent still holds
 *    a copy of the client's fd. A TCP connection is only closed when every
 *    fd for it is closed (close(2)), so the client receives its reply (the
 *    child sent it) but no end of stream: it hangs until the parent lets go
 *    of its copy, which here happens only when the server stops. Every such
 *    copy is also an fd the parent can run out of (EMFILE): see them with
 *        ls -l /proc/<pid>/fd
 *
 * The two mistakes are separate switches so you can tell their symptoms
 * apart: zombies always, held connections only with --no-close.
 *
 * Run it:   npm run build
 *           node --single-threaded dist/examples/3-zombies.js --max 3 --no-close
 * Try it:   printf 'one\n' | nc 127.0.0.1 9093    (reply, then nc hangs)
 *           ps -o pid,stat,cmd --ppid <pid>       (a Z line per request)
 *           two more requests: the server stops, every nc ends, zombies reaped
 */
import {
  ChildProcessError,
  InterruptedError,
  ReuseAddr,
  Socket,
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
  about: `Lesson 3: what happens without closing the duplicate fds and without reaping.\n${SIGUSR1_IGNORED}`,
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    max: 'stop after this many connections, 1 to 1000 (default 50)',
    timeout: 'seconds a client has to send its whole line (default 30)',
  },
  switches: { 'no-close': 'the parent keeps its copy of every client fd too' },
});
const port = portOption();
const { host: listenAddress, domain } = hostOption();
// Keep this well under the pid and fd limits: the point is to look, not to
// exhaust the machine.
const maxConnections = option('max', 50, { min: 1, max: 1000 });
const keepDuplicates = switchOption('no-close');
// A client that connects and says nothing must not hold its child for ever.
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
// A client may send at most this much before its newline: the server never
// buffers an unbounded line.
const MAX_LINE = 64 * 1024;
// The reply is bytes: this prefix, the client's line exactly as it came
// (bytes that are not UTF-8 too), a newline.
const PREFIX = Buffer.from('SERVED BY Node: ');
const NEWLINE = Buffer.from('\n');

let stopping = false;

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
  // close(2) drops the child's copy. Without --no-close that was the last
  // one and the client sees EOF; with it, the parent's copy keeps the
  // connection open.
  client.close();
}

function main(): void {
  const listener = new Socket({ domain });
  listener.setSockOpt(ReuseAddr, true);
  listener.bindAddr(port, listenAddress);
  listener.listen();
  const [host, boundPort] = listener.getLocalAddr();
  const me = getpid();
  console.log(`Listening on: ${host}:${boundPort}`);
  console.log(`Zombies will pile up; look at them with: ps -o pid,stat,cmd --ppid ${me}`);
  if (keepDuplicates)
    console.log(`--no-close: the parent keeps every client fd open; see them with: ls -l /proc/${me}/fd`);
  console.log(`Will stop after ${maxConnections} connections`);

  // SIGINT/SIGTERM only end the loop, so that even a stop by hand reaps the
  // zombies. There is no SIGCHLD handler: that is the point of the lesson.
  const stop = (): void => {
    stopping = true;
  };
  signal('SIGINT', stop);
  signal('SIGTERM', stop);
  signal('SIGUSR1', 'ignore'); // no debugger on a signal (lesson 2)

  const held: Socket[] = [];
  let served = 0;
  while (!stopping && served < maxConnections) {
    let client: Socket;
    try {
      client = listener.accept(); // accept(2)
    } catch (err) {
      if (err instanceof InterruptedError) continue; // our stop handler ran
      throw err;
    }
    const pid = fork({ ignoreSignals: ['SIGUSR1'] }); // fork(2); SIGUSR1 ignored in the child too
    if (pid === 0) {
      listener.close();
      handleConnection(client);
      _exit(0); // from now on a zombie, until the parent waits for it
    }
    served++;
    if (keepDuplicates) {
      held.push(client);
      console.log(`#${served}: child ${pid}; parent still holds fd ${client.fd}, so that client gets no EOF yet`);
    } else {
      client.close();
      console.log(`#${served}: child ${pid}`);
    }
  }

  console.log(`Stopping after ${served} connections`);
  // Closing the parent's copies ends the held connections: only now do
  // those clients see end of stream.
  for (const c of held) c.close();
  listener.close();

  // Reap every child. Blocking waitpid(2) on -1 returns one exited child at
  // a time; ECHILD means none is left.
  let reaped = 0;
  for (;;) {
    try {
      waitpid(-1, { onInterrupt: 'retry' });
      reaped++;
    } catch (err) {
      if (err instanceof ChildProcessError) break;
      throw err;
    }
  }
  console.log(`Reaped ${reaped} zombies`);
  process.exit(0);
}

main();
