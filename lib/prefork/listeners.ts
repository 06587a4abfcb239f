/**
 * The prefork master's listening sockets: opened from a TCP address, a
 * UNIX path, an inherited fd, systemd's socket activation, or the fds a
 * re-executed master inherits from the one before it.
 */
import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { getpid } from '../process/self.ts';
import { setsockopt } from '../sockets/options.ts';
import { ConnectionRefusedError } from '../errors.ts';
import { bind, close, connect, getsockname, listen, setCloseOnExec, socket } from '../sockets/syscalls.ts';
import type { SocketAddress } from '../sockets/addresses.ts';
import { ArgTypeError, ArgValueError, checkFd, checkPort, describe } from '../validate.ts';

/** The environment variable that names the listening fds a re-executed master inherits (`"3,4"`). */
export const INHERITED_FDS_ENV = 'WHAT_THE_FORK_FDS';

/**
 * Where the server listens: `{ port, host? }` for TCP (host `'0.0.0.0'` by
 * default; an IPv6 host such as `'::1'` makes an IPv6 socket), `{ path }`
 * for a UNIX-domain socket, `{ fd }` for a listening socket this process
 * inherited, or `{ systemd: true }` for the fds systemd passes
 * (LISTEN_FDS/LISTEN_PID, sd_listen_fds(3)).
 */
export type ListenSpec = { port: number; host?: string } | { path: string } | { fd: number } | { systemd: true };

/** One open listening socket of the master. */
export interface Listener {
  fd: number;
  address: SocketAddress;
  /** The UNIX path this master removes when it stops for good, if it is still this socket's. */
  unlinkPath?: OwnedPath;
  /** How to open one more socket on the same address (SO_REUSEPORT mode), in a worker. */
  spec?: ListenSpec;
  /** This process opened it (rather than inheriting it). */
  owned?: boolean;
}

/**
 * A listening address the master cannot use: a host name that does not
 * resolve, an fd that is not a socket, socket activation without sockets.
 */
export class ListenError extends Error {}
Object.defineProperty(ListenError.prototype, 'name', { value: 'ListenError' });

/**
 * A TCP port as the command takes it: digits, 0 to 65535.
 * @throws ArgValueError naming `what` (the option) and `whole` (its value) otherwise
 */
export function parsePort(text: string, what = '--port', whole = text): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535)
    throw new ArgValueError(`${what} ${JSON.stringify(whole)}: a port is an integer from 0 to 65535`);
  return n;
}

/**
 * `host:port`, `[v6]:port`, a path, `fd:N` or `systemd`, as the command takes them.
 * @throws ArgValueError naming `what` (the option) when `text` is none of them
 */
export function parseListen(text: string, what = '--listen'): ListenSpec {
  if (text === 'systemd') return { systemd: true };
  const fdMatch = /^fd:(\d+)$/.exec(text);
  if (fdMatch) return { fd: Number(fdMatch[1]) };
  if (text.includes('/')) return { path: text };
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) return { host: v6[1], port: parsePort(v6[2], what, text) };
  const hp = /^(?:(.*):)?(\d+)$/.exec(text);
  if (hp) return { host: hp[1] || undefined, port: parsePort(hp[2], what, text) };
  throw new ArgValueError(
    `${what} ${JSON.stringify(text)}: expected host:port, [v6]:port, port, a path, fd:N or systemd`,
  );
}

/**
 * Checks one listen spec of the PreforkServer's options (`name` says which).
 * @throws ArgTypeError or ArgValueError naming it when it is none of the forms
 */
export function checkListenSpec(spec: unknown, name: string): ListenSpec {
  if (typeof spec !== 'object' || spec === null)
    throw new ArgTypeError(`The "${name}" option must be an object, received ${describe(spec)}`);
  const o = spec as Record<string, unknown>;
  if ('systemd' in o) {
    if (o.systemd !== true) throw new ArgValueError(`The "${name}.systemd" option must be true`);
  } else if ('fd' in o) checkFd(o.fd, `${name}.fd`);
  else if ('path' in o) {
    if (typeof o.path !== 'string' || o.path === '')
      throw new ArgTypeError(`The "${name}.path" option must be a non-empty string, received ${describe(o.path)}`);
  } else if ('port' in o) {
    checkPort(o.port, `${name}.port`);
    if (o.host !== undefined && (typeof o.host !== 'string' || o.host === ''))
      throw new ArgTypeError(`The "${name}.host" option must be a non-empty string, received ${describe(o.host)}`);
  } else throw new ArgValueError(`The "${name}" option must have port, path, fd or systemd`);
  return spec as ListenSpec;
}

/**
 * The specs with every TCP host that is a name (`localhost`, `example.internal`)
 * replaced by its first address from dns.lookup(), as net.Server.listen() does.
 * @throws Error naming the host when it does not resolve
 */
export async function resolveHosts(specs: ListenSpec[]): Promise<ListenSpec[]> {
  return Promise.all(
    specs.map(async (spec) => {
      if (!('port' in spec) || spec.host === undefined || net.isIP(spec.host) !== 0) return spec;
      try {
        return { ...spec, host: (await dns.lookup(spec.host)).address };
      } catch (err) {
        throw new ListenError(
          `listen ${spec.host}:${spec.port}: cannot resolve ${JSON.stringify(spec.host)} (${(err as NodeJS.ErrnoException).code})`,
        );
      }
    }),
  );
}

/** A readable form of an address, for the log. */
export function describeAddress(a: SocketAddress): string {
  if (a.family === 'AF_UNIX') return a.path || '(unnamed)';
  return a.family === 'AF_INET6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function tcpAddress(spec: { port: number; host?: string }): SocketAddress {
  const host = spec.host ?? '0.0.0.0';
  return net.isIPv6(host)
    ? { family: 'AF_INET6', address: host, port: spec.port }
    : { family: 'AF_INET', address: host, port: spec.port };
}

/**
 * socket(2), SO_REUSEADDR (and SO_REUSEPORT), bind(2) and, unless
 * `bindOnly`, listen(2). The fd is close-on-exec: only a re-exec hands it on,
 * on purpose.
 */
export function openSocket(spec: ListenSpec, backlog: number, reusePort: boolean, bindOnly = false): Listener {
  if ('fd' in spec || 'systemd' in spec) throw new ArgValueError('an inherited fd cannot be opened again');
  const address: SocketAddress = 'path' in spec ? { family: 'AF_UNIX', path: spec.path } : tcpAddress(spec);
  const fd = socket(address.family, 'SOCK_STREAM', { cloexec: true });
  try {
    if (address.family === 'AF_UNIX') removeStaleSocket(address.path);
    else setsockopt(fd, 'SO_REUSEADDR', true);
    if (reusePort) setsockopt(fd, 'SO_REUSEPORT', true);
    bind(fd, address);
    if (!bindOnly) listen(fd, backlog);
    const bound = getsockname(fd);
    return {
      fd,
      address: bound,
      owned: true,
      unlinkPath: address.family === 'AF_UNIX' ? ownPath(address.path) : undefined,
    };
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * Makes way for bind(2) at a UNIX path: a socket file that nobody listens
 * on (connect(2) is refused: its server died) is removed. A socket that
 * accepts a connection is another server's, and anything else is not ours
 * to remove: both are left, and bind(2) then fails with EADDRINUSE, unless
 * `replace` (a master re-executed by USR2 taking over its old master's
 * status socket).
 */
export function removeStaleSocket(path: string, replace = false): void {
  if (path.startsWith('\0')) return;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) return;
  if (!replace && listensAt(path)) return; // another server's: bind(2) says EADDRINUSE
  fs.rmSync(path, { force: true });
}

/** Whether a server accepts connections at a UNIX path: a non-blocking connect(2) that is not refused. */
function listensAt(path: string): boolean {
  const probe = socket('AF_UNIX', 'SOCK_STREAM', { nonblock: true, cloexec: true });
  try {
    connect(probe, { family: 'AF_UNIX', path }, { onInterrupt: 'retry' });
    return true;
  } catch (err) {
    // Refused: nobody listens. EAGAIN (its queue is full) or EACCES: somebody's.
    return !(err instanceof ConnectionRefusedError);
  } finally {
    close(probe);
  }
}

/** A UNIX path and the file it named when this process bound it. */
export interface OwnedPath {
  path: string;
  dev: number;
  ino: number;
}

/** The file at `path` now (a socket this process just bound or adopted), or undefined when there is none. */
export function ownPath(path: string): OwnedPath | undefined {
  if (path === '' || path.startsWith('\0')) return undefined;
  try {
    const st = fs.lstatSync(path);
    return { path, dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Removes the path if it still names the same file: not one another server bound there since. */
export function removeOwnedPath(p: OwnedPath | undefined): void {
  if (!p) return;
  try {
    const st = fs.lstatSync(p.path);
    if (st.dev === p.dev && st.ino === p.ino) fs.unlinkSync(p.path);
  } catch {
    // gone already
  }
}

/** An fd given to this process that must be a listening socket. */
function adopt(fd: number, what: string): Listener {
  let address: SocketAddress;
  try {
    address = getsockname(fd);
  } catch (err) {
    throw new ListenError(`${what}: fd ${fd} is not a socket (${(err as Error).message})`);
  }
  setCloseOnExec(fd, true);
  return { fd, address };
}

/** The fds systemd passed (sd_listen_fds(3)): 3 .. 3+LISTEN_FDS-1, when LISTEN_PID is this process. */
export function systemdFds(env: NodeJS.ProcessEnv = process.env): number[] {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== getpid()) return [];
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n < 1) return [];
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/**
 * Opens (or adopts) every listener. When this master was re-executed by
 * another (USR2), the fds named by WHAT_THE_FORK_FDS are used instead of
 * the specs; systemd's variables are removed once read, so that neither
 * workers nor a later re-exec mistake them for their own.
 */
export function openListeners(specs: ListenSpec[], backlog: number, reusePort: boolean): Listener[] {
  const inherited = process.env[INHERITED_FDS_ENV];
  if (inherited !== undefined) {
    delete process.env[INHERITED_FDS_ENV];
    const fds = inherited
      .split(',')
      .filter((s) => s !== '')
      .map(Number);
    if (fds.length > 0)
      return fds.map((fd) => {
        const l = adopt(fd, INHERITED_FDS_ENV);
        // In SO_REUSEPORT mode the fds are bound, not listening: the workers
        // open their own on the same address, as with the first master.
        const a = l.address;
        if (reusePort && a.family !== 'AF_UNIX') l.spec = { host: a.address, port: a.port };
        // The old master bound the path; once it has gone, this one is the
        // last to use it and removes it when it stops.
        if (a.family === 'AF_UNIX') l.unlinkPath = ownPath(a.path);
        return l;
      });
  }
  const out: Listener[] = [];
  try {
    for (const spec of specs) {
      if ('systemd' in spec) {
        const fds = systemdFds();
        if (fds.length === 0)
          throw new ListenError(
            'systemd socket activation asked for, but LISTEN_FDS/LISTEN_PID name no fd of this process',
          );
        for (const fd of fds) out.push(adopt(fd, 'LISTEN_FDS'));
        delete process.env.LISTEN_FDS;
        delete process.env.LISTEN_PID;
        delete process.env.LISTEN_FDNAMES;
      } else if ('fd' in spec) out.push(adopt(spec.fd, 'listen fd'));
      else if (reusePort) {
        if ('path' in spec) throw new ArgValueError('SO_REUSEPORT mode needs TCP addresses, not a UNIX path');
        // Bound, not listening: it reserves the port (port 0 becomes a real
        // one) and is never in the kernel's group of listeners, so no
        // connection waits on it. Each worker listens on a socket of its own.
        const l = openSocket(spec, backlog, true, true);
        const a = l.address;
        l.spec = a.family === 'AF_UNIX' ? spec : { host: a.address, port: a.port };
        out.push(l);
      } else out.push(openSocket(spec, backlog, false));
    }
  } catch (err) {
    for (const l of out)
      if (l.owned) {
        closeQuietly(l.fd);
        removeOwnedPath(l.unlinkPath);
      }
    throw err;
  }
  return out;
}

/** close(2), ignoring EBADF: for clean-up paths. */
export function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // already closed
  }
}

/**
 * The fds a command line and the environment hand over as listening
 * sockets: systemd's (when LISTEN_PID is this process), a predecessor's
 * (WHAT_THE_FORK_FDS) and `--listen fd:N`. Only those that are open.
 * Never throws.
 */
export function inheritedListenFds(argv: string[], env: NodeJS.ProcessEnv = process.env): number[] {
  const fds = [
    ...systemdFds(env),
    ...(env[INHERITED_FDS_ENV] ?? '')
      .split(',')
      .filter((s) => s !== '')
      .map(Number),
  ];
  argv.forEach((a, i) => {
    const text = a.startsWith('--listen=') ? a.slice(9) : a === '--listen' || a === '-l' ? argv[i + 1] : undefined;
    const m = text === undefined ? null : /^fd:(\d+)$/.exec(text);
    if (m) fds.push(Number(m[1]));
  });
  return fds.filter((fd) => Number.isInteger(fd) && fd > 2 && fs.existsSync(`/proc/self/fd/${fd}`));
}
