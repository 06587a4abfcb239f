/**
 * Runs, once in the master before its first fork, what each worker runs
 * when it starts and serves its first request: a net.Server that listens on
 * a dup of a listening fd (closed at once, before the event loop could
 * accept anything on it), and one HTTP request through an http.Server over
 * a socketpair, with a handler of its own, never the application's. V8
 * compiles a function on its first call and a forked child inherits the
 * parent's compiled code, so a worker then starts without compiling Node's
 * net and http code again (docs/fork-in-node.md, "Compiling in the child is
 * avoided").
 */
import * as http from 'node:http';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { dup, socketpair } from '../sockets/syscalls.ts';

/**
 * The rehearsal; resolves when the request has been answered. Never
 * rejects. `fd` must be a listening socket (not a socket only bound, as in
 * SO_REUSEPORT mode, which listen(2) would add to the kernel's group), or
 * undefined to skip that part.
 */
export async function rehearseWorker(fd: number | undefined, backlog: number): Promise<void> {
  if (fd !== undefined) {
    const probe = net.createServer();
    probe.listen({ fd: dup(fd), backlog });
    probe.close();
  }
  const [a, b] = socketpair('AF_UNIX', 'SOCK_STREAM', { cloexec: true });
  const server = http.createServer((req, res) => res.end('ok'));
  const client = new net.Socket({ fd: b, readable: true, writable: true });
  await new Promise<void>((resolve) => {
    client.on('data', () => undefined);
    client.on('close', () => resolve());
    client.on('error', () => resolve());
    server.emit('connection', new net.Socket({ fd: a, readable: true, writable: true }));
    client.end('GET / HTTP/1.1\r\nHost: rehearsal\r\nConnection: close\r\n\r\n');
  });
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Collects the master's garbage once, the way V8 does when memory runs
 * out (a full, compacting collection that also shrinks the young
 * generation, on Node 22 and later), right before the first fork, as
 * Ruby's Process.warmup does before Unicorn forks: the workers inherit a
 * heap without garbage, its live objects packed together, and (Node 22+)
 * a young generation at its smallest, so the pages a worker writes, and
 * copies, are those of its own allocations. Uses the user's `gc` when
 * node runs with --expose-gc, else V8's gc extension in a context of its
 * own, leaving the global scope as it was.
 */
export function settleHeap(): void {
  let collect = (globalThis as { gc?: unknown }).gc as Collect | undefined;
  if (typeof collect !== 'function') {
    v8.setFlagsFromString('--expose-gc');
    try {
      collect = vm.runInNewContext('gc') as Collect;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
