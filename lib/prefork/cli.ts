/**
 * The command: `what-the-fork serve <app> [options]`. bin/what-the-fork.js
 * restarts node with the flags {@link nodeFlagsToAdd} names
 * (--single-threaded, and a cap on V8's young generation) and calls
 * {@link main}.
 */
import { ListenError, parseListen, parsePort, type ListenSpec } from './listeners.ts';
import { NotSingleThreadedError } from '../process/fork.ts';
import { PosixError } from '../errors.ts';
import { THROWN_BY_APP } from './app.ts';
import { PreforkServer, type PreforkOptions } from './master.ts';
import { ArgValueError } from '../validate.ts';

/** The usage text. */
export const USAGE = `Usage: what-the-fork serve <app> [options]

<app> is a module whose default export is a node:http request listener
(req, res), or a worker function marked with defineWorker(); the module may
also export beforeFork, afterFork and workerExit hooks.

Options:
  -l, --listen ADDR          host:port, [v6]:port, port, a UNIX path, fd:N or
                             systemd; repeat for several (default: systemd's
                             sockets when LISTEN_FDS is set, else 0.0.0.0:8080);
                             -b, --bind is the same option
  -p, --port N               listen on this TCP port (with --host, default
                             0.0.0.0); one more address beside any --listen
  -o, --host HOST            the host for --port (default port 8080); a name
                             such as localhost is resolved, its first address
  -w, --workers N            workers (default 2)
      --backlog N            listen(2) backlog (default 511)
      --reuse-port           one SO_REUSEPORT listener per worker
      --no-preload           each worker imports the app after the fork
  -t, --timeout S            kill a worker silent for S seconds (default 30)
      --graceful-timeout S   time a graceful stop may take (default 30)
      --max-requests N       recycle a worker after N requests (default 0: never)
      --max-requests-jitter N  add up to N at random to each worker's limit
      --min-uptime S         a worker dying sooner is a failed start (default 1)
      --backoff S            first delay after a failed start (default 0.1)
      --backoff-max S        longest delay (default 5)
      --max-failed-starts N  give up after N failed starts in a row (default 10)
      --status-socket PATH   answer the worker table as JSON on a UNIX socket
      --max-semi-space-size MB  start node with V8's flag of that name (default
                             2; 0: V8's default, up to 16 or 32): each worker's
                             young generation is memory of its own; ignored
                             when node's flags or NODE_OPTIONS set it
  -h, --help                 this text

Signals to the master: TERM/INT quick stop, QUIT graceful stop, HUP replace
the workers, TTIN/TTOU one worker more/less, WINCH stop the workers,
USR2 start a new master on the same sockets, USR1 log the worker table.
`;

const NUMBERS: Record<string, keyof PreforkOptions> = {
  '--workers': 'workers',
  '-w': 'workers',
  '--backlog': 'backlog',
  '--timeout': 'timeout',
  '-t': 'timeout',
  '--graceful-timeout': 'gracefulTimeout',
  '--max-requests': 'maxRequests',
  '--max-requests-jitter': 'maxRequestsJitter',
  '--min-uptime': 'minUptime',
  '--backoff': 'backoffInitial',
  '--backoff-max': 'backoffMax',
  '--max-failed-starts': 'maxFailedStarts',
};

/** The cap on each semi-space of V8's young generation that the command starts node with, in MB. */
export const DEFAULT_SEMI_SPACE_MB = 2;

const SEMI_SPACE = /^--max[-_]semi[-_]space[-_]size(=|$)/;

// The value of the command's --max-semi-space-size: an integer from 0 to
// 1024, or undefined when it is not one (parseArgs says why).
function semiSpaceValue(v: string | undefined): number | undefined {
  const n = Number(v);
  return v !== undefined && /^\d+$/.test(v.trim()) && n <= 1024 ? n : undefined;
}

/**
 * The node flags bin/what-the-fork.js restarts node with, those it does not
 * run with yet: `--single-threaded`, which fork() needs, and
 * `--max-semi-space-size` (the command's option of that name, default
 * {@link DEFAULT_SEMI_SPACE_MB}; 0 for none) unless node's own flags or
 * NODE_OPTIONS set it. A worker's young generation is the memory it cannot
 * share with the master: V8 grows it under load up to 16 MB a semi-space
 * (32 on Node 24), two semi-spaces, in every worker. Never throws.
 */
export function nodeFlagsToAdd(argv: string[], execArgv: string[], nodeOptions: string): string[] {
  const add: string[] = [];
  if (!execArgv.some((a) => /^--single[-_]threaded$/.test(a))) add.push('--single-threaded');
  let mb: number | undefined = DEFAULT_SEMI_SPACE_MB;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--max-semi-space-size') mb = semiSpaceValue(argv[++i]);
    else if (a.startsWith('--max-semi-space-size=')) mb = semiSpaceValue(a.slice(a.indexOf('=') + 1));
  }
  const set = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => SEMI_SPACE.test(a));
  if (!set && mb !== undefined && mb > 0) add.push(`--max-semi-space-size=${mb}`);
  return add;
}

/**
 * Parses the command line into PreforkServer options.
 * @throws RangeError naming the bad argument
 */
export function parseArgs(argv: string[]): PreforkOptions | 'help' {
  const args = [...argv];
  if (args[0] === '-h' || args[0] === '--help' || args.length === 0) return 'help';
  if (args.shift() !== 'serve') throw new ArgValueError(`unknown command ${JSON.stringify(argv[0])}; try: serve <app>`);
  const listen: ListenSpec[] = [];
  const o: Record<string, unknown> = {};
  let app: string | undefined;
  let port: number | undefined;
  let host: string | undefined;
  while (args.length > 0) {
    const a = args.shift() as string;
    const [flag, inline] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    const value = (): string => {
      const v = inline ?? args.shift();
      if (v === undefined) throw new ArgValueError(`${flag} needs a value`);
      return v;
    };
    if (flag === '-h' || flag === '--help') return 'help';
    else if (flag === '-l' || flag === '--listen' || flag === '-b' || flag === '--bind')
      listen.push(parseListen(value(), flag));
    else if (flag === '-p' || flag === '--port') port = parsePort(value(), flag);
    else if (flag === '-o' || flag === '--host') {
      host = value();
      if (host === '') throw new ArgValueError(`${flag} needs a host name or address`);
    } else if (flag === '--reuse-port') o.reusePort = true;
    else if (flag === '--no-preload') o.preload = false;
    else if (flag === '--preload') o.preload = true;
    else if (flag === '--status-socket') {
      o.statusSocket = value();
      if (o.statusSocket === '') throw new ArgValueError(`${flag} needs a path`);
    } else if (flag === '--max-semi-space-size') {
      // For node, which bin/what-the-fork.js starts with it.
      const v = value();
      if (semiSpaceValue(v) === undefined)
        throw new ArgValueError(`${flag}: not an integer from 0 to 1024: ${JSON.stringify(v)}`);
    } else if (flag in NUMBERS) {
      const v = value();
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0)
        throw new ArgValueError(`${flag}: not a number >= 0: ${JSON.stringify(v)}`);
      o[NUMBERS[flag]] = n;
    } else if (flag.startsWith('-')) throw new ArgValueError(`unknown option ${flag}`);
    else if (app === undefined) app = flag;
    else throw new ArgValueError(`one app only; also got ${JSON.stringify(flag)}`);
  }
  if (app === undefined) throw new ArgValueError('serve: the app module is missing');
  if (port !== undefined || host !== undefined) listen.push({ host: host ?? '0.0.0.0', port: port ?? 8080 });
  return { ...(o as Partial<PreforkOptions>), app, listen: listen.length > 0 ? listen : undefined };
}

/**
 * What the command prints when the master cannot start: the message alone
 * for what the user can fix from the message (a system call's error such
 * as EADDRINUSE, an app module not found, a name that does not resolve,
 * a bad option), and the stack for an error thrown by the app's own code.
 */
function startError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; [THROWN_BY_APP]?: boolean };
  const notFound = e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND';
  const plain = e[THROWN_BY_APP]
    ? notFound
    : err instanceof PosixError ||
      err instanceof ListenError ||
      err instanceof NotSingleThreadedError ||
      (typeof e.code === 'string' && /^ERR_(INVALID_ARG|OUT_OF_RANGE)/.test(e.code));
  return plain ? `${e.name}: ${e.message}` : (e.stack ?? e.message);
}

/** Runs the command; exits the process with the master's status. */
export async function main(argv: string[]): Promise<void> {
  let options: PreforkOptions | 'help';
  try {
    options = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`what-the-fork: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  let server: PreforkServer;
  try {
    server = new PreforkServer(options);
  } catch (err) {
    // An option the command line gave but the master refuses (--workers 2.5).
    process.stderr.write(`what-the-fork: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  let code: number;
  try {
    code = await server.run();
  } catch (err) {
    process.stderr.write(`what-the-fork: ${startError(err)}\n`);
    code = 1;
  }
  process.exit(code);
}
