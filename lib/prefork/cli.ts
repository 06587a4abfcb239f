/**
 * The command: `what-the-fork serve <app> [options]`. bin/what-the-fork.js
 * restarts node with --single-threaded (execSingleThreaded) and calls
 * {@link main}.
 */
import { parseListen, type ListenSpec } from './listeners.ts';
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
                             sockets when LISTEN_FDS is set, else 0.0.0.0:8080)
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
    else if (flag === '-l' || flag === '--listen') listen.push(parseListen(value()));
    else if (flag === '--reuse-port') o.reusePort = true;
    else if (flag === '--no-preload') o.preload = false;
    else if (flag === '--preload') o.preload = true;
    else if (flag === '--status-socket') o.statusSocket = value();
    else if (flag in NUMBERS) {
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
  return { ...(o as Partial<PreforkOptions>), app, listen: listen.length > 0 ? listen : undefined };
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
  let code: number;
  try {
    code = await new PreforkServer(options).run();
  } catch (err) {
    process.stderr.write(`what-the-fork: ${(err as Error).stack ?? String(err)}\n`);
    code = 1;
  }
  process.exit(code);
}
