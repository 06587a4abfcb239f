/**
 * Shared test helpers: run a compiled fixture in a subprocess (every test
 * that forks does its forking there, never in the jest worker), count this
 * process's fds, find zombies, and wait for a port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as os from 'node:os';

export const root = path.join(__dirname, '..');

export function fixturePath(name: string): string {
  return path.join(root, 'dist', 'test', 'fixtures', `${name}.js`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export interface RunOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** The node binary; the one running jest by default. */
  node?: string;
  /** Extra node flags; --single-threaded is always passed unless noSingleThreaded. */
  nodeFlags?: string[];
  noSingleThreaded?: boolean;
  timeoutMs?: number;
  input?: string;
}

/** Starts a fixture; the caller owns the process. */
export function startFixture(name: string, opts: RunOptions = {}): ChildProcess {
  const flags = [...(opts.noSingleThreaded ? [] : ['--single-threaded']), ...(opts.nodeFlags ?? [])];
  return spawn(opts.node ?? process.execPath, [...flags, fixturePath(name), ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs a fixture to the end (killing it by pid after timeoutMs) and collects its output. */
export function runFixture(name: string, opts: RunOptions = {}): Promise<RunResult> {
  const child = startFixture(name, opts);
  return collect(child, opts);
}

export function collect(child: ChildProcess, opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
    const timer = setTimeout(() => {
      stderr += '\n[helpers] fixture timed out, killed\n';
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid ?? -1 });
    });
  });
}

/** How many fds this process has open. */
export function fdCount(pid: number | 'self' = 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Children of `ppid` that are zombies (state Z). */
export function zombiesOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** Every live process whose parent is `ppid`. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** Resolves when something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One request of the seed's protocol: send a line, read the reply to EOF. */
export async function askLine(port: number, line: string, timeoutMs = 10000): Promise<string> {
  return (await askBytes(port, Buffer.from(`${line}\n`), timeoutMs)).toString();
}

/** Sends `request` as it is (newline included) and resolves with every byte of the reply, to EOF. */
export function askBytes(port: number, request: Buffer, timeoutMs = 10000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(request));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

/** A free TCP port on loopback (bound and released; good enough for tests). */
/**
 * `n` scaled by WTF_LOAD_SCALE (default 1), at least `min`: the size of a
 * load test. CI runs each load test at full size once, and smaller where
 * the suite repeats (the other Node versions, the sanitizer run, where every
 * fork and connection costs several times as much); the same code paths
 * run either way.
 */
export function loadSize(n: number, min = 1): number {
  const scale = Number(process.env.WTF_LOAD_SCALE ?? 1);
  if (!(scale > 0 && scale <= 1))
    throw new Error(`WTF_LOAD_SCALE must be in (0, 1], not ${process.env.WTF_LOAD_SCALE}`);
  return Math.max(min, Math.round(n * scale));
}

/** State letter of /proc/<pid>/stat, or undefined when the pid is gone. */
export function procState(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** Whether a connection to 127.0.0.1:`port` is refused (nothing listens there). */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A process a test started, with its output collected as it arrives. */
export interface Watched {
  child: ChildProcess;
  pid: number;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const watched: ChildProcess[] = [];

/** Collects a started process's output and records it for {@link killWatched}. */
export function watch(child: ChildProcess): Watched {
  if (child.pid === undefined) throw new Error('the process did not start');
  watched.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, pid: child.pid, out: () => out, err: () => err, exited };
}

/**
 * Starts `dist/examples/<name>.js` (with --single-threaded unless told).
 * `group` puts it in a process group of its own (setsid), so a signal to the
 * group reaches it and its children only, as Ctrl-C reaches a foreground job.
 */
export function startExample(
  name: string,
  args: string[],
  opts: { singleThreaded?: boolean; group?: boolean; nodeFlags?: string[] } = {},
): Watched {
  const file = path.join(root, 'dist', 'examples', `${name}.js`);
  const flags = [...(opts.singleThreaded === false ? [] : ['--single-threaded']), ...(opts.nodeFlags ?? [])];
  return watch(
    spawn(process.execPath, [...flags, file, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.group === true,
    }),
  );
}

/**
 * Test cleanup: every watched process that has not exited is killed by pid,
 * its children first (forked workers), then itself. A process that exited
 * is left alone, so a reused pid is never hit.
 */
export function killWatched(): void {
  for (const c of watched.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) continue;
    for (const k of childrenOf(c.pid)) {
      try {
        process.kill(k, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    c.kill('SIGKILL');
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something other than undefined/false, or fails after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | false, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleepMs(25);
  }
}

/** Resolves with how a watched process ended, or kills it by pid and fails after `ms`. */
export async function exitOf(r: Watched, ms = 20000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      r.child.kill('SIGKILL');
      reject(new Error(`pid ${r.pid} did not exit within ${ms} ms:\n${r.out()}${r.err()}`));
    }, ms);
  });
  try {
    return await Promise.race([r.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A throwaway project of its own whose node_modules holds this package by
 * name, the way a user's project does. Remove it with fs.rmSync when done.
 */
export function userProject(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'what-the-fork'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true }));
  return dir;
}
