/**
 * The prefork server with descriptor passing: the master alone accepts, and
 * hands each connection to an idle worker over a UNIX socket pair with
 * SCM_RIGHTS (sendFds / recvFds). Unlike the prefork server, where every
 * worker blocks in accept(2) on a shared listening socket, the master
 * chooses who serves: only idle workers get connections, and a connection
 * that finds every worker busy waits in the master's queue.
 *
 * The master never blocks: it accepts, passes fds and hears "ready" back
 * with the promise API, and reaps with the promise waitpid. A worker is the
 * blog's simple, blocking program: recvFds(2) for a connection, serve it,
 * close it, say "ready", wait for the next one. When its channel reaches
 * end of stream (the master closed it) it exits.
 *
 * Run it:   node --single-threaded dist/examples/fd-passing-server.js --workers 2
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 *
 * In your own project, import from 'what-the-fork' instead of '../lib'.
 */
import {
  Socket,
  _exit,
  close,
  execSingleThreaded,
  fork,
  getpid,
  recvFds,
  send,
  sendFds,
  signal,
  socketpair,
  promises,
} from '../lib/index.ts';
import { PORT_HELP, declareOptions, option, portOption } from './tools/options.ts';

execSingleThreaded();

declareOptions({
  about: 'The prefork server with descriptor passing: the master accepts, idle workers serve.',
  values: { port: PORT_HELP, workers: 'how many workers (default 2)' },
});
const port = portOption();
const workerCount = option('workers', 2, { min: 1, max: 64 });
const MAX_LINE = 64 * 1024;

interface Worker {
  pid: number;
  channel: number; // the master's end of the socket pair
}

const listener = new promises.Socket();
const idle: Worker[] = [];
const queue: number[] = []; // accepted fds waiting for an idle worker
let running = true;

/** The worker: blocking calls only, one connection at a time. */
function workerLoop(channel: number): never {
  for (;;) {
    let fds: number[];
    try {
      const m = recvFds(channel, 16, 1, { onInterrupt: 'retry' });
      if (m.data.length === 0) _exit(0); // the master closed the channel
      fds = m.fds;
    } catch {
      _exit(1);
    }
    for (const fd of fds) {
      const client = new Socket({ fd });
      try {
        const line = client.readLine(MAX_LINE, { timeoutMs: 30000 });
        client.send(`SERVED BY Node: ${line}\n`);
      } catch {
        // a client that went away or said nothing
      }
      client.close();
    }
    try {
      send(channel, 'r'); // ready for the next one
    } catch {
      _exit(0); // the master closed the channel while this worker served
    }
  }
}

function startWorker(others: Worker[]): Worker {
  const [mine, theirs] = socketpair('AF_UNIX', 'SOCK_STREAM', { cloexec: true });
  const pid = fork({ ignoreSignals: ['SIGINT'] });
  if (pid === 0) {
    // The child keeps only its own end of its own channel.
    listener.close();
    close(mine);
    for (const w of others) close(w.channel);
    for (const fd of queue) close(fd);
    workerLoop(theirs);
  }
  close(theirs);
  return { pid, channel: mine };
}

/** Gives queued connections to idle workers. */
function dispatch(): void {
  while (queue.length > 0 && idle.length > 0) {
    const fd = queue.shift() as number;
    const w = idle.shift() as Worker;
    sendFds(w.channel, 'c', [fd]); // the worker gets its own fd for the connection
    close(fd); // the master's copy
    void promises.recv(w.channel, 16).then(
      (b) => {
        if (b.length > 0) {
          idle.push(w);
          dispatch();
        }
      },
      () => {}, // the channel closed at shutdown
    );
  }
}

function stop(): void {
  if (!running) process.exit(0);
  console.log(`Quitting process ${getpid()}`);
  running = false;
  listener.close();
}

async function main(): Promise<void> {
  listener.setSockOpt('SO_REUSEADDR', true);
  listener.bindAddr(port);
  listener.listen();
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(startWorker(workers));
  idle.push(...workers);
  const reaped = workers.map((w) => promises.waitpid(w.pid));
  console.log(`Listening on: ${listener.getLocalAddr().join(':')}`);
  console.log(`Workers: ${workers.map((w) => w.pid).join(' ')}`);
  signal('SIGINT', stop);
  signal('SIGTERM', stop);

  while (running) {
    try {
      const { fd } = await promises.accept(listener.fd);
      queue.push(fd);
      dispatch();
    } catch (err) {
      if (!running) break;
      throw err;
    }
  }
  // Shutdown: closing a channel ends its worker once it is idle again.
  for (const w of workers) close(w.channel);
  for (const fd of queue) close(fd);
  for (const s of await Promise.all(reaped)) console.log(`Worker ${s.pid} is shutting down`);
  process.exit(0);
}

void main();
