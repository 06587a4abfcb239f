/**
 * A prefork worker's side: what runs in the child after fork(2). It serves
 * on the listening sockets it inherited, beats its heart on the scoreboard,
 * stops gracefully on SIGQUIT (finishing what it holds, within the
 * graceful timeout), at once on SIGTERM, and on its own after maxRequests.
 * The kernel sends it SIGQUIT when the master dies (PR_SET_PDEATHSIG), so
 * no worker outlives its master.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { BlockingIOError, TimeoutError } from '../errors.ts';
import { setParentDeathSignal } from '../process/prctl.ts';
import { getppid } from '../process/self.ts';
import { signal } from '../signals/dispositions.ts';
import { accept, close, dup } from '../sockets/syscalls.ts';
import { isWorkerFunction, loadApp, type PreforkApp } from './app.ts';
import { closeQuietly, openSocket, type Listener } from './listeners.ts';
import { type Slot, WorkerState } from './scoreboard.ts';

/** What a worker function gets. */
export interface WorkerContext {
  /** The worker's number, 0 .. workers-1 (a replacement takes the number of the worker it replaces). */
  readonly id: number;
  /** The first listening fd; every one is in `fds`. */
  readonly fd: number;
  readonly fds: readonly number[];
  /**
   * Hands a node:net or node:http server the connections of every
   * listening fd (a net.Server listens on each and passes them on),
   * counts its requests (http) or connections (net) toward maxRequests, and
   * wires the graceful stop: close the server, take what the kernel already
   * queued, finish the open connections.
   */
  serve(server: net.Server): void;
  /** Counts one request toward maxRequests, for a protocol `serve` cannot see. */
  requestDone(): void;
  /** Reports that the worker is alive; a timer does it while the event loop turns. */
  heartbeat(): void;
  /** Runs `fn` when a graceful stop begins. */
  onStop(fn: () => void): void;
  /** True once a stop has begun. */
  readonly stopping: boolean;
}

/** What the master hands a new worker. */
export interface WorkerSetup {
  id: number;
  masterPid: number;
  listeners: Listener[];
  slot: Slot;
  backlog: number;
  /** The application, already imported (preload), or the module to import now. */
  app: PreforkApp | string;
  afterFork?: (ctx: WorkerContext) => void | Promise<void>;
  /** Seconds without a heartbeat before the master kills the worker. */
  timeout: number;
  gracefulTimeout: number;
  /** 0: no limit. */
  maxRequests: number;
  maxRequestsJitter: number;
  log: (line: string) => void;
}

/** How long a stopping worker's keep-alive connection must have read nothing, between requests, before it is ended. */
const IDLE_MS = 500;

/** Runs the worker. Called in the child right after fork(2), with the master's own handles already let go. */
export function runWorker(s: WorkerSetup): void {
  let requests = 0;
  let state: WorkerState = WorkerState.Starting;
  let stopping = false;
  let readyMs = 0;
  const stopHooks: (() => void)[] = [];
  const servers: net.Server[] = [];
  // Per served server: each listening handle and a dup(2) of its fd to drain from.
  const listening = new Map<net.Server, [net.Server, number][]>();
  const keepAlive = new Map<net.Server, Set<KeepAlive>>();
  const limit = s.maxRequests > 0 ? s.maxRequests + Math.floor(Math.random() * (s.maxRequestsJitter + 1)) : 0;

  const beat = (): void => s.slot.write({ beatMs: Date.now(), requests, state, readyMs });
  // A heartbeat a few times per timeout; unref'd, so it never keeps a worker alive.
  const interval = Math.max(50, Math.min(1000, (s.timeout * 1000) / 4));
  setInterval(beat, interval).unref();

  // Each listener: the inherited fd, or in SO_REUSEPORT mode a socket of the worker's own.
  const fds = s.listeners.map((l) => {
    if (!l.spec) return l.fd;
    const own = openSocket(l.spec, s.backlog, true).fd;
    closeQuietly(l.fd);
    return own;
  });

  function graceful(recycling: boolean): void {
    if (stopping) return;
    stopping = true;
    state = recycling ? WorkerState.Recycling : WorkerState.Stopping;
    beat();
    for (const fn of stopHooks) fn();
    for (const server of servers) drainAndClose(server);
    // Whatever still runs at the graceful timeout is cut off.
    setTimeout(() => process.exit(0), s.gracefulTimeout * 1000).unref();
  }

  // Close each listening handle, take what the kernel already queued on it
  // (connections no worker took yet, which the last close would reset),
  // and let the open connections finish; idle keep-alive ones are closed.
  // The application's server itself is never close()d: node:http's close()
  // also closes every connection without a request in progress, including
  // the ones just accepted whose request has not been read yet.
  function drainAndClose(server: net.Server): void {
    for (const [handle, spare] of listening.get(server) ?? []) {
      handle.close();
      for (;;) {
        let c: number;
        try {
          c = accept(spare, { nonblock: true, cloexec: true, timeoutMs: 0 }).fd;
        } catch (err) {
          if (err instanceof BlockingIOError || err instanceof TimeoutError) break;
          throw err;
        }
        const sock = new net.Socket({
          fd: c,
          readable: true,
          writable: true,
          allowHalfOpen: options(server).allowHalfOpen,
        });
        if (options(server).noDelay) sock.setNoDelay(true);
        if (options(server).keepAlive) sock.setKeepAlive(true, (options(server).keepAliveInitialDelay ?? 0) * 1000);
        server.emit('connection', sock);
      }
      close(spare);
    }
    // node:http sets socket._httpMessage to the response in progress: unless
    // its headers went out already, it says `Connection: close`, and
    // node:http closes the connection after it. Every later request is
    // answered so too (noted); a connection left between requests is
    // endIdle's.
    const open = keepAlive.get(server);
    if (!open) return;
    for (const sock of open) {
      const res = sock._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    endIdle(open, new WeakMap());
  }

  // A connection between requests is not ended at once: its client may
  // have sent the next request already (a keep-alive client sends it as
  // soon as a response ends), and closing would lose it. One that has read
  // nothing for a whole IDLE_MS, between requests or before its first
  // (a browser's preconnect), is ended, as node:http's keepAliveTimeout
  // would end it; a client that sends first gets its answer with
  // `Connection: close`. One that is part-way through a request (read
  // something, no response yet) is left to finish or to gracefulTimeout.
  // The window keepAliveTimeout has remains: a request that reaches the
  // kernel just as the check ends its connection is lost.
  function endIdle(open: Set<KeepAlive>, readAt: WeakMap<KeepAlive, number>): void {
    for (const sock of open) {
      // Between requests: it has answered one (written something) and has
      // no response in progress, or it has read nothing yet.
      const between = !sock._httpMessage && (sock.bytesWritten > 0 || sock.bytesRead === 0);
      if (!between) readAt.delete(sock);
      else if (readAt.get(sock) === sock.bytesRead) sock.end();
      else readAt.set(sock, sock.bytesRead);
    }
    if (open.size > 0) setTimeout(() => endIdle(open, readAt), IDLE_MS).unref();
  }

  // The servers this worker made itself, around an http request listener:
  // the listener notes each request, with no second 'request' listener.
  const ownServers = new WeakSet<http.Server>();
  // Each request: a stopping worker asks keep-alive clients to go
  // elsewhere; the count.
  const noted = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (stopping) res.shouldKeepAlive = false;
    counted();
  };

  const counted = (): void => {
    requests++;
    if (limit > 0 && requests >= limit && !stopping) {
      s.log(`worker ${s.id} (pid ${process.pid}) served ${requests} requests (maxRequests ${limit}), recycling`);
      graceful(true);
    }
  };

  const ctx: WorkerContext = {
    id: s.id,
    fd: fds[0],
    fds,
    serve(server: net.Server) {
      servers.push(server);
      if (server instanceof http.Server) {
        // Its connections, for the graceful stop to end each one once it is
        // idle. Each request is noted by the listener the worker wrapped
        // around the app's, or, on a server the app made, by one more.
        const open = new Set<KeepAlive>();
        keepAlive.set(server, open);
        server.on('connection', (sock: KeepAlive) => {
          open.add(sock);
          sock.once('close', () => open.delete(sock));
        });
        if (!ownServers.has(server)) server.on('request', noted);
      } else server.on('connection', (sock: net.Socket) => sock.once('close', counted));
      // One net.Server listens on each fd and hands its connections over.
      const handles: [net.Server, number][] = fds.map((fd) => {
        const handle = net.createServer((c) => server.emit('connection', c));
        // Its connections are made as the app's server would make them:
        // node:http's TCP_NODELAY (a response written in two parts is not
        // held back by Nagle's algorithm), half-open, keep-alive probes.
        copyConnectionOptions(server, handle);
        // The configured backlog: node:net would otherwise listen(2) again with its own.
        handle.listen({ fd, backlog: s.backlog });
        return [handle, dup(fd)];
      });
      listening.set(server, handles);
      // node:http starts tracking connections, and the check that ends a
      // request whose headers or body come too slowly (headersTimeout,
      // requestTimeout: a slow client holding a worker), on its server's
      // 'listening' event, which a server that never calls listen() would
      // not see. Its address() stays null: the sockets are the worker's.
      if (server instanceof http.Server) server.emit('listening');
      // Served after the stop began (SIGQUIT while the app loaded): drained and closed at once.
      if (stopping) drainAndClose(server);
    },
    requestDone: counted,
    heartbeat: beat,
    onStop(fn) {
      stopHooks.push(fn);
    },
    get stopping() {
      return stopping;
    },
  };

  // Signals: SIGQUIT graceful, SIGTERM at once (Unicorn's worker table).
  // SIGINT and the master's other signals were ignored from the fork on.
  signal('SIGQUIT', () => graceful(false));
  signal('SIGTERM', () => process.exit(0));
  // When the master dies, however it dies, the kernel sends SIGQUIT. A
  // master that died before this line is seen through getppid(2).
  setParentDeathSignal('SIGQUIT');
  if (getppid() !== s.masterPid) graceful(false);

  const start = async (): Promise<void> => {
    const app = typeof s.app === 'string' ? (await loadApp(s.app)).app : s.app;
    if (s.afterFork) await s.afterFork(ctx);
    if (isWorkerFunction(app)) await app(ctx);
    else {
      const server = http.createServer(function (this: http.Server, req, res) {
        noted(req, res);
        app.call(this, req, res);
      });
      ownServers.add(server);
      ctx.serve(server);
    }
    readyMs = Date.now();
    if (!stopping) state = WorkerState.Ready;
    beat();
  };
  start().catch((err: unknown) => {
    s.log(`worker ${s.id} (pid ${process.pid}) failed to start: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  });
}

/**
 * What node:net's Server keeps of its options and reads for each connection
 * it accepts (Node's net module: allowHalfOpen, pauseOnConnect, noDelay, keepAlive,
 * keepAliveInitialDelay in seconds, highWaterMark). node:http sets noDelay
 * and allowHalfOpen on its servers.
 */
interface ConnectionOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}
const CONNECTION_OPTIONS = [
  'allowHalfOpen',
  'pauseOnConnect',
  'noDelay',
  'keepAlive',
  'keepAliveInitialDelay',
  'highWaterMark',
] as const;

const options = (server: net.Server): ConnectionOptions => server as unknown as ConnectionOptions;

/** Makes `handle` accept connections as `server` would (the options it was made with). */
function copyConnectionOptions(server: net.Server, handle: net.Server): void {
  const from = options(server) as Record<string, unknown>;
  const to = options(handle) as Record<string, unknown>;
  for (const k of CONNECTION_OPTIONS) if (from[k] !== undefined) to[k] = from[k];
}

/** A connection of an http server, with node:http's own note of the response in progress. */
type KeepAlive = net.Socket & { _httpMessage?: http.ServerResponse | null };
