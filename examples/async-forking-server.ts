/**
 * The forking server with a parent that never blocks. The parent accepts
 * with the promise API (`await listener.accept()`), forks per connection,
 * reaps each child with the promise waitpid, and meanwhile serves a live
 * status page with node:http on a second port, which keeps answering under
 * load because no call of the parent stops its thread. The child hands its
 * connection to node:net (toNetSocket) and serves it with Node's streams.
 *
 * Run it:   node --single-threaded dist/examples/async-forking-server.js --port 9093 --status-port 9094
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 *           curl http://127.0.0.1:9094/    ({"alive":0,"served":1,"reaped":1})
 *
 * In your own project, import from 'what-the-fork' instead of '../lib'.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  _exit,
  close,
  execSingleThreaded,
  fork,
  forkedChildren,
  getpid,
  signal,
  socketpair,
  toNetSocket,
  promises,
} from '../lib/index.ts';
import { PORT_HELP, declareOptions, option, portOption } from './tools/options.ts';

execSingleThreaded();

declareOptions({
  about: 'The forking server with a parent on the event loop, and a status page.',
  values: {
    port: PORT_HELP,
    'status-port': 'the status page (node:http) port (default 0: the kernel picks one)',
    timeout: 'seconds a child waits for the client to send its line (default 30)',
  },
});
const port = portOption();
const statusPort = option('status-port', 0, { max: 65535 });
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
const MAX_LINE = 64 * 1024;

const listener = new promises.Socket();
const stats = { served: 0, reaped: 0 };
const reaping = new Set<Promise<void>>();
let running = true;

/**
 * Runs in the child: node:net owns the connection from here. Reads one
 * line, answers it, and leaves once the socket is closed.
 */
function serveInChild(fd: number): void {
  const socket = toNetSocket(fd);
  let buffered = '';
  socket.setTimeout(timeoutSeconds * 1000, () => socket.destroy());
  socket.on('data', (d) => {
    buffered += d;
    const nl = buffered.indexOf('\n');
    if (nl >= 0) socket.end(`SERVED BY Node: ${buffered.slice(0, nl).replace(/\r$/, '')}\n`);
    else if (buffered.length > MAX_LINE) socket.end(`ERROR: line longer than ${MAX_LINE} bytes\n`);
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => _exit(0));
}

/** Reaps one child with the promise waitpid: the parent's loop is never held. */
function reap(pid: number): void {
  const done: Promise<void> = promises.waitpid(pid).then(
    () => {
      stats.reaped++;
      reaping.delete(done);
    },
    (err: unknown) => {
      reaping.delete(done);
      console.error(`waitpid(${pid}): ${(err as Error).message}`);
    },
  );
  reaping.add(done);
}

/**
 * Runs the child's code path once in the parent, over a socket pair, before
 * the first fork. V8 compiles a function on its first call; compiled here,
 * the code is in the heap every child starts from, instead of being
 * compiled afresh in each child (about 100 ms per child for node:net's
 * stream machinery on a busy machine).
 */
async function warmUp(): Promise<void> {
  const [mine, peer] = socketpair('AF_UNIX', 'SOCK_STREAM');
  const socket = toNetSocket(mine);
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.setTimeout(1000, () => socket.destroy());
  socket.on('data', (d) => socket.end(`SERVED BY Node: ${String(d).trim()}\n`));
  await promises.sendAll(peer, 'warm-up\n');
  await promises.recv(peer, 100);
  close(peer);
  await closed;
}

function statusPage(): http.Server {
  return http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(`${JSON.stringify({ alive: forkedChildren().length, ...stats })}\n`);
  });
}

/** SIGINT / SIGTERM, run from the event loop: stop accepting; main() winds down. */
function stop(): void {
  if (!running) process.exit(0);
  console.log(`Quitting process ${getpid()}`);
  running = false;
  listener.close(); // the pending accept rejects with EBADF
}

async function main(): Promise<void> {
  await warmUp();
  listener.setSockOpt('SO_REUSEADDR', true);
  listener.bindAddr(port);
  listener.listen();
  const status = statusPage();
  await new Promise<void>((resolve) => status.listen(statusPort, '127.0.0.1', resolve));
  console.log(`Listening on: ${listener.getLocalAddr().join(':')}`);
  console.log(`Status on: 127.0.0.1:${(status.address() as AddressInfo).port}`);
  signal('SIGINT', stop);
  signal('SIGTERM', stop);

  while (running) {
    let client: promises.Socket;
    try {
      client = await listener.accept(); // waits on the event loop, not in accept(2)
    } catch (err) {
      if (!running) break; // stop() closed the listener
      throw err;
    }
    const pid = fork({ ignoreSignals: ['SIGINT'] });
    if (pid === 0) {
      // The child's copies of the listener and the status server are not its to serve.
      listener.close();
      status.close();
      serveInChild(client.fd);
      return;
    }
    stats.served++;
    client.close();
    reap(pid);
  }

  // Shutdown: the children still serving finish, and are reaped.
  await Promise.all(reaping);
  status.close();
  process.exit(0);
}

void main();
