/**
 * The prefork master: it opens the listening sockets, optionally imports
 * the application (preload: the workers then share its memory
 * copy-on-write), forks the workers, and supervises them from its event
 * loop with the signal table of Unicorn's and gunicorn's masters.
 * docs/prefork.md describes the model, the signals and the numbers.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ProcessLookupError } from '../errors.ts';
import { _exit, execve } from '../process/exec.ts';
import { fork, isSingleThreaded, NotSingleThreadedError } from '../process/fork.ts';
import { getpid } from '../process/self.ts';
import { reapChildren, type WaitStatus } from '../process/wait.ts';
import { signal } from '../signals/dispositions.ts';
import { kill } from '../signals/kill.ts';
import type { SignalName } from '../signals/names.ts';
import { bind, dropNewConnections, listen, setCloseOnExec, socket } from '../sockets/syscalls.ts';
import { isWorkerFunction, loadApp, type PreforkApp } from './app.ts';
import {
  INHERITED_FDS_ENV,
  closeQuietly,
  describeAddress,
  openListeners,
  ownPath,
  removeOwnedPath,
  removeStaleSocket,
  resolveHosts,
  checkListenSpec,
  type OwnedPath,
  type ListenSpec,
  type Listener,
} from './listeners.ts';
import { Slot } from './scoreboard.ts';
import { rehearseWorker, settleHeap } from './rehearsal.ts';
import { runWorker, type WorkerContext } from './worker.ts';
import { ArgTypeError, ArgValueError, describe } from '../validate.ts';

/** The environment variable a re-executed master finds its predecessor's pid in. */
export const OLD_MASTER_ENV = 'WHAT_THE_FORK_OLD_MASTER';

/** Options of {@link PreforkServer}. Times are in seconds. */
export interface PreforkOptions {
  /** The application, or the path of a module whose default export is one (required for preload: false). */
  app: PreforkApp | string;
  /** Where to listen; several allowed. Default: systemd's sockets when LISTEN_FDS is set, else port 8080. */
  listen?: ListenSpec | ListenSpec[];
  /** Workers, default 2. */
  workers?: number;
  /** listen(2) backlog, default 511 (as node:net). */
  backlog?: number;
  /** SO_REUSEPORT: one listening socket per worker, the kernel spreading connections over them. */
  reusePort?: boolean;
  /** Import the app in the master before forking (default true); false: each worker imports it after the fork. */
  preload?: boolean;
  /** A worker that does not beat its heart for this long is killed (SIGKILL) and replaced. Default 30. */
  timeout?: number;
  /** How long a graceful stop may take before the worker is killed. Default 30. */
  gracefulTimeout?: number;
  /** Recycle a worker after this many requests (0: never), plus up to maxRequestsJitter more, picked at random. */
  maxRequests?: number;
  maxRequestsJitter?: number;
  /** Crash-loop guard: a worker that dies within minUptime of its start counts as a failed start. Default 1. */
  minUptime?: number;
  /** The first delay before starting again after a failed start (doubling each time, up to backoffMax). Default 0.1. */
  backoffInitial?: number;
  backoffMax?: number;
  /** Failed starts in a row before the master gives up and exits with status 1. Default 10. */
  maxFailedStarts?: number;
  /** A UNIX socket path where the master answers every connection with the worker table as JSON. */
  statusSocket?: string;
  /** In the master, before each fork. */
  beforeFork?: (worker: WorkerInfo) => void;
  /** In the worker, after the fork, before the app serves. */
  afterFork?: (ctx: WorkerContext) => void | Promise<void>;
  /** In the master, when a worker was reaped. */
  workerExit?: (worker: WorkerInfo, status: WaitStatus) => void;
  /** One line per lifecycle event; default: stdout. */
  log?: (line: string) => void;
}

/** One worker, as the master sees it. */
export interface WorkerInfo {
  id: number;
  pid: number;
  /** Which HUP generation started it. */
  generation: number;
  startedAt: number;
  readyAt?: number;
  /** 'starting', 'ready', 'recycling' or 'stopping'. */
  state: string;
  requests: number;
}

/** A row of the worker table, with memory from /proc/<pid>/smaps_rollup (bytes). */
export interface WorkerStatus extends WorkerInfo {
  rss?: number;
  pss?: number;
  private?: number;
}

interface Worker extends WorkerInfo {
  slot: Slot;
  /** When the master asked it to stop (ms), if it did. */
  quitAt?: number;
  killed?: boolean;
  lastBeat: number;
}

const STATE_NAMES = ['starting', 'ready', 'recycling', 'stopping'];
const TICK_MS = 100;

/** Reads Rss, Pss and Private_* of a process, in bytes; undefined when it is gone. */
export function memoryOf(pid: number): { rss: number; pss: number; private: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss'), private: kb('Private_Clean') + kb('Private_Dirty') };
}

/**
 * A prefork server: `await new PreforkServer({ app, listen: { port: 8080 } }).run()`.
 * `run()` resolves with the exit status once the master has stopped (0
 * after TERM/INT/QUIT, 1 after giving up on a crash loop). Needs node with
 * `--single-threaded` (execSingleThreaded()), as every fork() does: `run()`
 * rejects with NotSingleThreadedError without it.
 *
 * Signals (to the master): TERM/INT quick stop; QUIT graceful stop; HUP
 * replace every worker gracefully; TTIN/TTOU one worker more/less; WINCH
 * stop every worker gracefully and keep the master; USR2 re-execute a new
 * master that inherits the listening sockets; USR1 log the worker table.
 */
export class PreforkServer {
  private readonly o: Required<
    Omit<PreforkOptions, 'app' | 'listen' | 'statusSocket' | 'beforeFork' | 'afterFork' | 'workerExit' | 'log'>
  >;
  private specs: ListenSpec[];
  private listeners: Listener[] = [];
  private app: PreforkApp | string;
  private readonly workers = new Map<number, Worker>();
  private target: number;
  private generation = 0;
  /** The newest generation a HUP started (the one serving, unless that reload was abandoned). */
  private lastGeneration = 0;
  private failures = 0;
  private nextSpawnAt = 0;
  private stopping: 'quick' | 'graceful' | undefined;
  private exitStatus = 0;
  private tick?: NodeJS.Timeout;
  private wakeup?: NodeJS.Immediate;
  private status?: net.Server;
  private statusPath?: OwnedPath;
  private reexecPid = 0;
  private reexecWanted = false;
  private announcedReady = false;
  private stopDeadline = 0;
  private resolve?: (code: number) => void;
  private readonly masterPid = getpid();
  /** The pid of the master this one was re-executed from (USR2), whose sockets it adopted. */
  private inheritedFromOldMaster = 0;
  private readonly logLine: (line: string) => void;

  private readonly options: PreforkOptions;

  constructor(options: PreforkOptions) {
    this.options = options;
    const num = (v: number | undefined, d: number, name: string, min = 0): number => {
      const n = v ?? d;
      if (typeof n !== 'number' || !(n >= min) || !Number.isFinite(n))
        throw new ArgValueError(`The "${name}" option must be a number >= ${min}, received ${String(v)}`);
      return n;
    };
    this.o = {
      workers: num(options.workers, 2, 'workers', 0),
      backlog: num(options.backlog, 511, 'backlog', 1),
      reusePort: options.reusePort ?? false,
      preload: options.preload ?? true,
      timeout: num(options.timeout, 30, 'timeout', 0.1),
      gracefulTimeout: num(options.gracefulTimeout, 30, 'gracefulTimeout', 0),
      maxRequests: num(options.maxRequests, 0, 'maxRequests', 0),
      maxRequestsJitter: num(options.maxRequestsJitter, 0, 'maxRequestsJitter', 0),
      minUptime: num(options.minUptime, 1, 'minUptime', 0),
      backoffInitial: num(options.backoffInitial, 0.1, 'backoffInitial', 0),
      backoffMax: num(options.backoffMax, 5, 'backoffMax', 0),
      maxFailedStarts: num(options.maxFailedStarts, 10, 'maxFailedStarts', 1),
    };
    if (!Number.isInteger(this.o.workers)) throw new ArgValueError('The "workers" option must be an integer');
    if (typeof options.app !== 'string' && typeof options.app !== 'function')
      throw new ArgTypeError('The "app" option must be a function or the path of a module');
    if (options.statusSocket !== undefined && (typeof options.statusSocket !== 'string' || options.statusSocket === ''))
      throw new ArgTypeError(
        `The "statusSocket" option must be a non-empty path, received ${describe(options.statusSocket)}`,
      );
    if (!this.o.preload && typeof options.app !== 'string')
      throw new ArgTypeError('preload: false needs the app as a module path, for each worker to import');
    const listen = options.listen ?? (process.env.LISTEN_FDS ? { systemd: true as const } : { port: 8080 });
    this.specs = (Array.isArray(listen) ? listen : [listen]).map((l, i) => checkListenSpec(l, `listen[${i}]`));
    this.app = options.app;
    this.target = this.o.workers;
    this.logLine = options.log ?? ((line) => process.stdout.write(line + '\n'));
  }

  private log(text: string): void {
    this.logLine(`[prefork ${getpid()}] ${text}`);
  }

  /** The listening sockets' addresses (after run() started). */
  addresses(): string[] {
    return this.listeners.map((l) => describeAddress(l.address));
  }

  /** The worker table: pid, start, requests served, state, and memory from /proc. */
  workerTable(): WorkerStatus[] {
    this.readScoreboard();
    return [...this.workers.values()]
      .sort((a, b) => a.id - b.id || a.startedAt - b.startedAt)
      .map((w) => ({
        id: w.id,
        pid: w.pid,
        generation: w.generation,
        startedAt: w.startedAt,
        readyAt: w.readyAt,
        state: w.state,
        requests: w.requests,
        ...memoryOf(w.pid),
      }));
  }

  /** Starts the master; resolves with its exit status when it has stopped. */
  async run(): Promise<number> {
    // Refused here, before any socket is opened, rather than at the first fork.
    if (!isSingleThreaded()) throw new NotSingleThreadedError();
    if (typeof this.app === 'string' && this.o.preload) {
      const mod = await loadApp(this.app);
      this.app = mod.app;
      // Hooks exported by the app module, unless given as options.
      this.options.beforeFork ??= mod.beforeFork as PreforkOptions['beforeFork'];
      this.options.afterFork ??= mod.afterFork as PreforkOptions['afterFork'];
      this.options.workerExit ??= mod.workerExit as PreforkOptions['workerExit'];
    }
    if (process.env[INHERITED_FDS_ENV]) this.inheritedFromOldMaster = Number(process.env[OLD_MASTER_ENV] ?? 0);
    else this.specs = await resolveHosts(this.specs);
    this.listeners = openListeners(this.specs, this.o.backlog, this.o.reusePort);
    const kind =
      typeof this.app === 'string' ? 'module ' + this.app : isWorkerFunction(this.app) ? 'worker function' : 'http app';
    this.log(
      `master started: listening on ${this.listeners.map((l) => `${describeAddress(l.address)} (fd ${l.fd})`).join(', ')}; ` +
        `${kind}, ${this.o.preload ? 'preloaded' : 'not preloaded'}, ${this.target} workers`,
    );
    try {
      if (this.options.statusSocket) this.openStatusSocket(this.options.statusSocket);
      await rehearseWorker(this.o.reusePort ? undefined : this.listeners[0]?.fd, this.o.backlog);
      settleHeap();
    } catch (err) {
      // A start that failed leaves no socket open and no path behind.
      this.status?.close();
      removeOwnedPath(this.statusPath);
      for (const l of this.listeners)
        if (l.owned) {
          closeQuietly(l.fd);
          removeOwnedPath(l.unlinkPath);
        }
      this.listeners = [];
      throw err;
    }
    const done = new Promise<number>((resolve) => (this.resolve = resolve));
    signal('SIGCHLD', () => this.reap());
    signal('SIGTERM', () => this.stop('quick'));
    signal('SIGINT', () => this.stop('quick'));
    signal('SIGQUIT', () => this.stop('graceful'));
    signal('SIGHUP', () => this.reload());
    // One worker more or fewer per signal caught, however many came at once.
    signal('SIGTTIN', (_, __, count) => this.resize(this.target + count));
    signal('SIGTTOU', (_, __, count) => this.resize(Math.max(this.target - count, 0)));
    signal('SIGWINCH', () => this.resize(0));
    signal('SIGUSR1', () => this.logTable());
    signal('SIGUSR2', () => this.reexec());
    this.tick = setInterval(() => this.maintain(), TICK_MS);
    this.wake();
    return done;
  }

  // ---- signals: each only records what to do and wakes maintain() --------

  /** TERM/INT ('quick') or QUIT ('graceful'). Also callable from the API. */
  stop(how: 'quick' | 'graceful' = 'graceful'): void {
    if (this.stopping === 'quick' || this.stopping === how) return;
    this.stopping = how;
    this.target = 0;
    this.log(`${how === 'quick' ? 'quick' : 'graceful'} stop of ${this.workers.size} workers`);
    // A graceful stop of the last server on a socket: the kernel first
    // stops starting handshakes (a filter that drops SYNs), so the queue the
    // workers drain no longer grows and their last close resets nothing;
    // new clients are refused once it is closed. A handshake already under
    // way when the filter comes still completes into the queue, where the
    // drain takes it (a filter that dropped every packet would drop its
    // last ACK: a client that believes it is connected, reset at the
    // close). Not on a socket another process keeps serving (a new master
    // after USR2, systemd).
    if (how === 'graceful' && this.soleOwner())
      for (const l of this.listeners)
        try {
          dropNewConnections(l.fd);
        } catch (err) {
          this.log(`fd ${l.fd}: no drop filter (${(err as Error).message}); the workers drain and close`);
        }
    // The master's own listening fds go first: after the workers' last
    // close the socket is gone, and they drain its queue before that.
    for (const l of this.listeners) closeQuietly(l.fd);
    const deadline = how === 'quick' ? 5 : this.o.gracefulTimeout + 1;
    this.stopDeadline = Date.now() + deadline * 1000;
    for (const w of this.workers.values()) this.ask(w, how === 'quick' ? 'SIGTERM' : 'SIGQUIT');
    this.wake();
  }

  /**
   * True when no other process serves these sockets: this master opened
   * them, or inherited them from an old master that is gone, and no new
   * master of its own (USR2) runs.
   */
  private soleOwner(): boolean {
    if (this.reexecPid || this.o.reusePort) return false;
    const inherited = this.listeners.some((l) => !l.owned);
    if (!inherited) return true;
    return this.inheritedFromOldMaster > 0 && !this.oldMasterRuns();
  }

  /** Whether the master this one was re-executed from (USR2) still runs. */
  private oldMasterRuns(): boolean {
    if (!this.inheritedFromOldMaster) return false;
    try {
      kill(this.inheritedFromOldMaster, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** HUP: every worker is replaced by a new one, gracefully (a new generation). */
  reload(): void {
    if (this.stopping) return;
    this.generation = ++this.lastGeneration;
    if (this.target === 0) this.target = this.o.workers;
    this.log(`reload: starting generation ${this.generation}, ${this.target} workers`);
    this.wake();
  }

  /** TTIN/TTOU/WINCH: the number of workers. */
  resize(n: number): void {
    if (this.stopping) return;
    this.log(`workers ${this.target} -> ${n}`);
    this.target = n;
    this.wake();
  }

  private logTable(): void {
    for (const w of this.workerTable())
      this.log(
        `status: worker ${w.id} pid ${w.pid} gen ${w.generation} ${w.state} requests ${w.requests} ` +
          `started ${new Date(w.startedAt).toISOString()} rss ${w.rss ?? '?'} pss ${w.pss ?? '?'} private ${w.private ?? '?'}`,
      );
  }

  /** USR2: fork and execve a new master, handing it the listening fds. */
  reexec(): void {
    if (this.stopping) return;
    if (this.reexecPid) {
      this.log(`re-exec refused: new master ${this.reexecPid} is still running`);
      return;
    }
    this.reexecWanted = true;
    this.wake();
  }

  private wake(): void {
    if (!this.wakeup) this.wakeup = setImmediate(() => this.maintain());
  }

  /** kill(2) to a worker by pid, remembering when a stop was asked. */
  private ask(w: Worker, sig: SignalName): void {
    if (sig !== 'SIGKILL' && w.quitAt === undefined) w.quitAt = Date.now();
    try {
      kill(w.pid, sig);
    } catch (err) {
      if (!(err instanceof ProcessLookupError)) throw err;
    }
  }

  // ---- the loop ------------------------------------------------------------

  /**
   * Runs from a timer or setImmediate, never from inside a signal handler,
   * because it forks: the child returns from here straight into its event
   * loop, not into the middle of the master's code.
   */
  private maintain(): void {
    this.wakeup = undefined;
    this.reap();
    this.readScoreboard();
    const now = Date.now();
    this.checkHeartbeats(now);
    if (this.stopping) {
      if (this.workers.size === 0) return this.finish();
      if (now > this.stopDeadline)
        for (const w of this.workers.values())
          if (!w.killed) {
            this.log(`worker ${w.id} (pid ${w.pid}) did not stop in time, killed`);
            w.killed = true;
            this.ask(w, 'SIGKILL');
          }
      return;
    }
    if (this.reexecWanted) {
      this.reexecWanted = false;
      if (this.forkNewMaster()) return; // the child exec'd or failed: never here
    }
    this.announce();
    this.retireOld();
    // Forks, one per missing worker; during a crash loop one at a time, after the backoff.
    while (this.current().length < this.target) {
      if (this.failures > 0) {
        if (now < this.nextSpawnAt || this.current().some((w) => w.state === 'starting')) break;
      }
      if (this.spawn(this.freeId())) return; // in the new worker
    }
    // Too many (TTOU, WINCH): the newest go first.
    const live = this.current().sort((a, b) => b.startedAt - a.startedAt);
    for (let i = 0; i < live.length - this.target; i++) this.ask(live[i], 'SIGQUIT');
  }

  /** Workers of the current generation that were not asked to stop. */
  private current(): Worker[] {
    return [...this.workers.values()].filter((w) => w.generation === this.generation && w.quitAt === undefined);
  }

  private freeId(): number {
    const used = new Set(this.current().map((w) => w.id));
    let id = 0;
    while (used.has(id)) id++;
    return id;
  }

  /** After HUP: one old worker is asked to stop for each new one that is ready. */
  private retireOld(): void {
    const old = [...this.workers.values()].filter((w) => w.generation !== this.generation && w.quitAt === undefined);
    if (old.length === 0) return;
    const readyNew = this.current().filter((w) => w.state === 'ready').length;
    const excess = old.length + readyNew - this.target;
    old.sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 0; i < Math.min(excess, old.length); i++) this.ask(old[i], 'SIGQUIT');
  }

  /** Once, when the first full set of workers is ready: the line a USR2 upgrade waits for. */
  private announce(): void {
    if (this.announcedReady) return;
    const ready = this.current().filter((w) => w.state === 'ready').length;
    if (ready < this.target) return;
    this.announcedReady = true;
    const old = process.env[OLD_MASTER_ENV];
    this.log(`ready: ${ready} workers accepting` + (old ? `; the old master ${old} may be stopped (QUIT)` : ''));
  }

  private readScoreboard(): void {
    for (const w of this.workers.values()) {
      let r;
      try {
        r = w.slot.read();
      } catch {
        continue;
      }
      w.requests = r.requests;
      if (r.beatMs > w.lastBeat) w.lastBeat = r.beatMs;
      const state = STATE_NAMES[r.state] ?? 'starting';
      if (r.readyMs > 0 && w.readyAt === undefined) {
        w.readyAt = r.readyMs;
        this.log(`worker ${w.id} (pid ${w.pid}) ready in ${w.readyAt - w.startedAt} ms`);
      }
      w.state = state;
    }
  }

  private checkHeartbeats(now: number): void {
    const limit = this.o.timeout * 1000;
    for (const w of this.workers.values()) {
      if (w.killed || now - w.lastBeat <= limit) continue;
      this.log(
        `worker ${w.id} (pid ${w.pid}) timed out: no heartbeat for ${((now - w.lastBeat) / 1000).toFixed(1)} s, killed (SIGKILL)`,
      );
      w.killed = true;
      this.ask(w, 'SIGKILL');
    }
  }

  /** fork(2) one worker. Returns true in the child. */
  private spawn(id: number): boolean {
    const slot = Slot.create();
    const info: Worker = {
      id,
      pid: 0,
      generation: this.generation,
      startedAt: Date.now(),
      state: 'starting',
      requests: 0,
      slot,
      lastBeat: Date.now(),
    };
    this.options.beforeFork?.(info);
    // The child ignores, from its first instruction, the signals meant for
    // the master only (Ctrl-C reaches the whole process group).
    const pid = fork({ ignoreSignals: ['SIGINT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH', 'SIGUSR1', 'SIGUSR2'] });
    if (pid === 0) {
      this.becomeWorker(info);
      return true;
    }
    info.pid = pid;
    this.workers.set(pid, info);
    this.log(`worker ${id} (pid ${pid}) spawned, generation ${info.generation}`);
    return false;
  }

  /** In the child: drop the master's handles, then run the worker. */
  private becomeWorker(info: Worker): void {
    clearInterval(this.tick);
    if (this.wakeup) clearImmediate(this.wakeup);
    this.wakeup = undefined;
    this.status?.close(); // opened from an fd: closing it unlinks nothing
    for (const w of this.workers.values()) w.slot.close();
    this.workers.clear();
    runWorker({
      id: info.id,
      masterPid: this.masterPid,
      listeners: this.listeners,
      slot: info.slot,
      backlog: this.o.backlog,
      app: this.app,
      afterFork: this.options.afterFork,
      timeout: this.o.timeout,
      gracefulTimeout: this.o.gracefulTimeout,
      maxRequests: this.o.maxRequests,
      maxRequestsJitter: this.o.maxRequestsJitter,
      log: (line) => this.log(line),
    });
  }

  /** SIGCHLD (and each tick): reap every child of ours that exited. */
  private reap(): void {
    for (const s of reapChildren()) this.exited(s);
  }

  private exited(s: WaitStatus): void {
    if (s.pid === this.reexecPid) {
      this.log(`new master ${s.pid} exited (${describeStatus(s)})`);
      this.reexecPid = 0;
      // It had taken the status socket's path over, and removed it at its stop.
      if (this.options.statusSocket && !this.stopping) {
        this.status?.close();
        try {
          this.openStatusSocket(this.options.statusSocket);
        } catch (err) {
          this.log(`status socket ${this.options.statusSocket} not opened again: ${(err as Error).message}`);
        }
      }
      return;
    }
    const w = this.workers.get(s.pid);
    if (!w) return;
    this.workers.delete(s.pid);
    try {
      const r = w.slot.read();
      w.requests = r.requests;
      w.state = STATE_NAMES[r.state] ?? w.state;
    } catch {
      // keep what was last read
    }
    w.slot.close();
    const asked = w.quitAt !== undefined || w.state === 'recycling';
    this.log(
      `worker ${w.id} (pid ${w.pid}) exited (${describeStatus(s)}) after ${w.requests} requests${asked ? '' : ', unexpectedly'}`,
    );
    try {
      this.options.workerExit?.(w, s);
    } catch (err) {
      this.log(`workerExit hook threw: ${(err as Error).message}`);
    }
    if (!this.stopping && !asked) this.countStart(w);
    if (w.readyAt !== undefined && Date.now() - w.readyAt >= this.o.minUptime * 1000) this.failures = 0;
    this.wake();
  }

  /** The crash-loop guard: a worker that died young is a failed start. */
  private countStart(w: Worker): void {
    const young = w.readyAt === undefined || Date.now() - w.startedAt < this.o.minUptime * 1000;
    if (!young) {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures >= this.o.maxFailedStarts && this.abandonReload(w)) return;
    if (this.failures >= this.o.maxFailedStarts) {
      this.log(
        `giving up: ${this.failures} workers in a row died within ${this.o.minUptime} s of starting; ` +
          'fix the application (its error is above) and start again',
      );
      this.exitStatus = 1;
      this.stop('quick');
      return;
    }
    const delay = Math.min(this.o.backoffInitial * 2 ** (this.failures - 1), this.o.backoffMax);
    this.nextSpawnAt = Date.now() + delay * 1000;
    this.log(`worker ${w.id} died at start (${this.failures} in a row); next start in ${delay.toFixed(2)} s`);
  }

  /**
   * A HUP whose new workers keep dying at start (an application that no
   * longer loads, without preload) does not take the server down while
   * workers of an older generation still serve: the reload is given up,
   * and they stay. Returns whether it was.
   */
  private abandonReload(dead: Worker): boolean {
    if (dead.generation !== this.generation) return false;
    const serving = [...this.workers.values()].filter((w) => w.generation < this.generation && w.quitAt === undefined);
    if (serving.length === 0) return false;
    const failed = this.generation;
    this.generation = Math.max(...serving.map((w) => w.generation));
    this.log(
      `reload abandoned: ${this.failures} workers of generation ${failed} in a row died within ` +
        `${this.o.minUptime} s of starting; generation ${this.generation} keeps serving ` +
        '(fix the application, its error is above, and send HUP again)',
    );
    this.failures = 0;
    for (const w of this.workers.values())
      if (w.generation === failed && w.quitAt === undefined) this.ask(w, 'SIGQUIT');
    return true;
  }

  /** USR2: fork, then execve node with the same arguments and the listening fds named in the environment. */
  private forkNewMaster(): boolean {
    const fds = this.listeners.map((l) => l.fd);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [INHERITED_FDS_ENV]: fds.join(','),
      [OLD_MASTER_ENV]: String(getpid()),
    };
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    const pid = fork();
    if (pid === 0) {
      try {
        for (const fd of fds) setCloseOnExec(fd, false);
        execve(process.execPath, [process.argv0, ...process.execArgv, ...process.argv.slice(1)], env);
      } catch (err) {
        process.stderr.write(`re-exec failed: ${(err as Error).message}\n`);
      }
      _exit(127);
    }
    this.reexecPid = pid;
    this.log(`re-exec: new master ${pid} started; stop this one (QUIT) once it says ready`);
    return false;
  }

  // A status socket file nobody listens on is removed first; a live one
  // (another master's) or any other file makes bind(2) fail with
  // EADDRINUSE. A master re-executed by USR2 takes its old master's over;
  // that one then leaves the path alone (it names another socket now).
  private openStatusSocket(path: string): void {
    removeStaleSocket(path, this.inheritedFromOldMaster > 0);
    const fd = socket('AF_UNIX', 'SOCK_STREAM', { cloexec: true });
    try {
      bind(fd, { family: 'AF_UNIX', path });
      listen(fd, 16);
    } catch (err) {
      closeQuietly(fd);
      throw err;
    }
    this.statusPath = ownPath(path);
    this.status = net.createServer((c) => {
      // A client that hung up before the answer (EPIPE, ECONNRESET) is no
      // error of the master's: without a listener, it would end the master.
      c.on('error', () => c.destroy());
      c.end(JSON.stringify({ master: getpid(), workers: this.workerTable() }) + '\n');
    });
    // accept(2) failing (EMFILE) is the status socket's trouble, not a reason to end the master.
    this.status.on('error', (err) => this.log(`status socket: ${err.message}`));
    this.status.listen({ fd });
    this.status.unref();
  }

  private finish(): void {
    clearInterval(this.tick);
    if (this.wakeup) clearImmediate(this.wakeup);
    this.status?.close();
    removeOwnedPath(this.statusPath);
    // A UNIX path is removed unless another master still uses it: a new one
    // (USR2), or the old one this master was re-executed from.
    if (!this.reexecPid && !this.oldMasterRuns()) for (const l of this.listeners) removeOwnedPath(l.unlinkPath);
    for (const sig of [
      'SIGCHLD',
      'SIGTERM',
      'SIGINT',
      'SIGQUIT',
      'SIGHUP',
      'SIGTTIN',
      'SIGTTOU',
      'SIGWINCH',
      'SIGUSR1',
      'SIGUSR2',
    ] as const)
      signal(sig, 'default');
    this.log(`master stopped, exit status ${this.exitStatus}`);
    this.resolve?.(this.exitStatus);
  }
}

function describeStatus(s: WaitStatus): string {
  return s.kind === 'signaled' ? `killed by ${s.signal}` : s.kind === 'exited' ? `exit status ${s.code}` : s.kind;
}
