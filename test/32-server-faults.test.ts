/**
 * The example servers under the faults a server that people run meets, each
 * made with the real mechanism: a pids cgroup (v1 or v2) and prlimit for
 * resource limits, real signals (SIGKILL of the master, SIGSTOP of a
 * worker, crashes, SIGUSR1), clients that trickle, a stdout pipe that
 * stalls, bytes that are not UTF-8, and SIGTERM under load. Each server must
 * keep serving or stop cleanly, leave no orphan, and lose nothing the
 * kernel accepted.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  askLine,
  childrenOf,
  exitOf,
  fdCount,
  freePort,
  killWatched,
  sleepMs,
  startExample,
  startFixture,
  until,
  watch,
  type Watched,
  isAlive,
} from './helpers.ts';

const PREFIX = 'SERVED BY Node: ';
const BUSY = 'ERROR: server busy, try again later\n';

// Processes a test made that its cleanup must end: workers a dead master left.
const strays: number[] = [];
// Temporary directories to remove.
const dirs: string[] = [];
afterEach(() => {
  killWatched();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

async function startServer(
  name: 'forking-server' | 'prefork-server',
  args: string[],
): Promise<Watched & { port: number }> {
  const port = await freePort();
  const r = startExample(name, ['--port', String(port), ...args]);
  await until(`"Listening on" from ${r.pid}:\n${r.out()}${r.err()}`, () =>
    r.out().includes(`Listening on: 127.0.0.1:${port}\n`),
  );
  return Object.assign(r, { port });
}

function workerPids(r: Watched): number[] {
  return [...r.out().matchAll(/Worker (\d+) started/g)].map((m) => Number(m[1]));
}

async function startPrefork(args: string[] = []): Promise<Watched & { port: number }> {
  const r = await startServer('prefork-server', ['--workers', '2', ...args]);
  await until('2 workers', () => childrenOf(r.pid).length === 2 && workerPids(r).length === 2);
  return r;
}

/** Sends raw bytes, reads to end of stream; resolves with what came and how it ended. */
function exchange(
  port: number,
  data: Buffer | undefined,
  timeoutMs = 15000,
): { connected: Promise<void>; write: (b: Buffer) => void; done: Promise<{ data: Buffer; error?: string }> } {
  const s = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const connected = new Promise<void>((resolve) => s.once('connect', () => resolve()));
  const done = new Promise<{ data: Buffer; error?: string }>((resolve) => {
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve({ data: Buffer.concat(chunks), error: 'timeout' });
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      s.destroy();
      resolve({ data: Buffer.concat(chunks) });
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), error: e.code ?? e.message }));
  });
  if (data) s.write(data);
  s.on('error', () => {});
  return { connected, write: (b) => s.write(b), done };
}

/**
 * The lowest fd number the process has free: with RLIMIT_NOFILE set to it,
 * the next fd it asks for fails with EMFILE.
 */
function lowestFreeFd(pid: number): number {
  const open = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let n = 0;
  while (open.has(n)) n++;
  return n;
}

/** prlimit(1) on a running process: RLIMIT_NOFILE's soft limit. */
function setNoFile(pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}

/**
 * A pids cgroup of its own for a test: cgroup v1 (a hierarchy mounted with
 * the pids controller) or v2 (the unified hierarchy with pids available),
 * whichever this machine has. Removed by remove() once empty.
 */
class PidsCgroup {
  readonly dir: string;
  constructor() {
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n');
    const v1 = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup' && f[3]?.split(',').includes('pids'));
    const name = `wtf-test-${process.pid}-${Date.now()}`;
    if (v1) {
      this.dir = path.join(v1[1], name);
    } else {
      const v2 = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2');
      if (!v2) throw new Error('no cgroup hierarchy with the pids controller on this machine');
      const root = v2[1];
      if (!fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('pids'))
        throw new Error(`the pids controller is not available in ${root}`);
      // The root may hold processes and still delegate controllers.
      if (!fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8').includes('pids'))
        fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+pids');
      this.dir = path.join(root, name);
    }
    fs.mkdirSync(this.dir);
  }
  add(pid: number): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }
  current(): number {
    return Number(fs.readFileSync(path.join(this.dir, 'pids.current'), 'utf8'));
  }
  setMax(n: number | 'max'): void {
    fs.writeFileSync(path.join(this.dir, 'pids.max'), String(n));
  }
  /** Kills what is left in it (the test's own processes, by pid), then rmdir once all are reaped. */
  async remove(): Promise<void> {
    this.setMax('max');
    for (const pid of fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    await until(`${this.dir} empty`, () => {
      try {
        fs.rmdirSync(this.dir);
        return true;
      } catch {
        return false;
      }
    });
  }
}

describe('1. resource limits are weather', () => {
  test('forking-server in a full pids cgroup: fork EAGAIN is logged once, clients are answered, serving resumes', async () => {
    const r = await startServer('forking-server', ['--linger', '0', '--timeout', '2']);
    const cg = new PidsCgroup();
    try {
      cg.add(r.pid);
      // Room for three children, no more.
      cg.setMax(cg.current() + 3);
      const idle = Array.from({ length: 6 }, () => exchange(r.port, undefined));
      await Promise.all(idle.map((c) => c.connected));
      const replies = await Promise.all(idle.map((c) => c.done));
      // Three children time out their silent clients; the others were told
      // the server was busy, or served once a pid was free again: never a
      // reset, never silence.
      for (const rep of replies) {
        expect(rep.error).toBeUndefined();
        expect(rep.data.toString()).toMatch(/^ERROR: /);
      }
      expect(replies.filter((rep) => rep.data.toString() === BUSY).length).toBeGreaterThan(0);
      expect(await askLine(r.port, 'after the storm')).toBe(`${PREFIX}after the storm\n`);
      expect(isAlive(r.pid)).toBe(true);
      // Once per episode: each start is followed by its end, and an
      // episode folds many failed tries into those two lines.
      const starts = r.err().match(/^fork: .*backing off/gm) ?? [];
      const ends = [...r.err().matchAll(/^fork: works again \(after (\d+) tries\)$/gm)].map((m) => Number(m[1]));
      expect(starts.length).toBeGreaterThan(0);
      expect(ends).toHaveLength(starts.length);
      expect(ends.reduce((a, b) => a + b, 0)).toBeGreaterThan(starts.length);
      process.kill(r.pid, 'SIGTERM');
      expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    } finally {
      await cg.remove();
    }
  });

  test('forking-server at its RLIMIT_NOFILE (prlimit): clients are told it is busy, one log line, served again once raised', async () => {
    const r = await startServer('forking-server', ['--linger', '0']);
    expect(await askLine(r.port, 'warm')).toBe(`${PREFIX}warm\n`);
    await until('the first child reaped', () => childrenOf(r.pid).length === 0);
    setNoFile(r.pid, lowestFreeFd(r.pid));
    expect(await askLine(r.port, 'one')).toBe(BUSY);
    expect(await askLine(r.port, 'two')).toBe(BUSY);
    setNoFile(r.pid, 1024);
    expect(await askLine(r.port, 'three')).toBe(`${PREFIX}three\n`);
    expect(r.err().match(/^accept: .*too many open files.*backing off/gm) ?? []).toHaveLength(1);
    expect(r.err()).toMatch(/^accept: works again/m);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  test('clients turned away read the answer and a clean end, never a reset (8 clients at once)', async () => {
    const r = await startServer('forking-server', ['--linger', '0']);
    expect(await askLine(r.port, 'warm')).toBe(`${PREFIX}warm\n`);
    await until('the first child reaped', () => childrenOf(r.pid).length === 0);
    setNoFile(r.pid, lowestFreeFd(r.pid));
    // Each sends its line at once: it may arrive after the server's look for
    // it and before the close, which would then answer it with a reset.
    const one = (): Promise<string> =>
      new Promise((resolve) => {
        let data = '';
        const c = net.connect(r.port, '127.0.0.1', () => c.write('hello\n'));
        c.on('data', (d) => (data += d));
        c.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code}`));
        c.on('close', () => resolve(data === BUSY ? 'busy' : `other: ${JSON.stringify(data)}`));
      });
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 8; i += 8) {
      for (const o of await Promise.all(Array.from({ length: 8 }, one))) outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    expect(outcomes).toEqual({ busy: 8 });
    setNoFile(r.pid, 1024);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  test('prefork-server at its RLIMIT_NOFILE: workers turn clients away and live; served again once raised', async () => {
    const r = await startPrefork();
    const first = workerPids(r);
    for (const pid of [r.pid, ...first]) setNoFile(pid, lowestFreeFd(pid));
    expect(await askLine(r.port, 'one')).toBe(BUSY);
    expect(await askLine(r.port, 'two')).toBe(BUSY);
    for (const pid of [r.pid, ...first]) setNoFile(pid, 1024);
    // The workers may still be in their back-off pause: the client waits in the queue.
    expect(await askLine(r.port, 'three')).toBe(`${PREFIX}three\n`);
    expect(workerPids(r)).toEqual(first);
    expect(r.out()).not.toMatch(/died/);
    expect(r.out() + r.err()).toMatch(/accept: .*too many open files/);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  test('prefork-server in a full pids cgroup: a dead worker is replaced once pids are free, the master lives', async () => {
    const r = await startPrefork();
    const [a, b] = workerPids(r);
    strays.push(a, b);
    const cg = new PidsCgroup();
    try {
      cg.add(r.pid);
      cg.setMax(cg.current()); // not one more
      process.kill(a, 'SIGKILL');
      await until('the death reported', () => r.out().includes(`Worker ${a} died`));
      await until('the fork failure logged', () => /^fork: .*backing off/m.test(r.err()));
      await sleepMs(1500);
      expect(isAlive(r.pid)).toBe(true);
      expect(workerPids(r)).toEqual([a, b]);
      // The other worker still serves meanwhile.
      expect(await askLine(r.port, 'meanwhile')).toBe(`${PREFIX}meanwhile\n`);
      cg.setMax('max');
      await until('a replacement', () => workerPids(r).length === 3, 10000);
      expect(r.err()).toMatch(/^fork: works again/m);
      expect(r.err().match(/^fork: .*backing off/gm) ?? []).toHaveLength(1);
      process.kill(r.pid, 'SIGTERM');
      expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    } finally {
      await cg.remove();
    }
  });
});

describe('2 and 3. a cap on children, a deadline on the whole line', () => {
  test('forking-server --max-children 3: idle clients never hold more than 3 children; the next one is served when a slot frees', async () => {
    const r = await startServer('forking-server', ['--linger', '0', '--max-children', '3']);
    const idle = Array.from({ length: 5 }, () => exchange(r.port, undefined));
    await Promise.all(idle.map((c) => c.connected));
    await until('3 children', () => childrenOf(r.pid).length === 3);
    await sleepMs(500);
    expect(childrenOf(r.pid)).toHaveLength(3);
    expect(r.out()).toMatch(/^at --max-children 3: /m);
    idle.forEach((c, i) => c.write(Buffer.from(`idle ${i}\n`)));
    const replies = await Promise.all(idle.map((c) => c.done));
    expect(replies.map((x) => x.data.toString()).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `${PREFIX}idle ${i}\n`).sort(),
    );
    expect(r.out()).toMatch(/^at --max-children 3: works again/m);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  /** Two clients that send a byte every `everyMs` and never a newline, until told to stop. */
  function tricklers(port: number, everyMs: number): { stop: () => void; ended: Promise<string[]> } {
    let stopped = false;
    const ends = [0, 1].map(
      () =>
        new Promise<string>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          const timer = setInterval(() => {
            if (stopped) {
              clearInterval(timer);
              s.destroy();
              resolve('stopped by the test');
            } else s.write('x');
          }, everyMs);
          s.on('data', () => {}); // read what comes, so that the end of stream is seen
          s.on('close', () => {
            clearInterval(timer);
            resolve('closed by the server');
          });
          s.on('error', () => {});
        }),
    );
    return { stop: () => (stopped = true), ended: Promise.all(ends) };
  }

  test('prefork-server, 2 workers, 2 clients trickling a byte every 2 s: a third client is served meanwhile', async () => {
    const r = await startPrefork();
    const t = tricklers(r.port, 2000);
    await sleepMs(500);
    const started = Date.now();
    const legit = await exchange(r.port, Buffer.from('legit\n'), 25000).done;
    const waited = Date.now() - started;
    expect(legit).toEqual({ data: Buffer.from(`${PREFIX}legit\n`) });
    // The default whole-line deadline is 10 s: the tricklers lose their
    // workers then. The legit client is served when the first is closed;
    // the second, accepted a moment later, has until 8 s more to be closed.
    expect(waited).toBeLessThan(20000);
    await Promise.race([t.ended, sleepMs(8000)]);
    t.stop();
    expect(await t.ended).toEqual(['closed by the server', 'closed by the server']);
  });

  test('forking-server --max-children 2 --timeout 1: 2 trickling clients at the cap, a third client is served meanwhile', async () => {
    const r = await startServer('forking-server', ['--linger', '0', '--max-children', '2', '--timeout', '1']);
    const t = tricklers(r.port, 300);
    await until('2 children', () => childrenOf(r.pid).length === 2);
    const legit = await exchange(r.port, Buffer.from('legit\n'), 10000).done;
    t.stop();
    expect(legit).toEqual({ data: Buffer.from(`${PREFIX}legit\n`) });
    expect(await t.ended).toEqual(['closed by the server', 'closed by the server']);
  });
});

describe('4. no orphan, no hang at shutdown', () => {
  async function underSubreaper(args: string[]): Promise<{ reaper: Watched; server: number; port: number }> {
    const port = await freePort();
    const reaper = watch(
      startFixture('subreaper', { args: [...args.slice(0, 1), '--port', String(port), ...args.slice(1)] }),
    );
    const server = Number(await until('the server pid', () => /^subreaper: started (\d+)$/m.exec(reaper.out())?.[1]));
    await until('the banner', () => reaper.out().includes(`Listening on: 127.0.0.1:${port}\n`));
    return { reaper, server, port };
  }

  test('kill -9 of the prefork master: its workers end with it and a restart binds the port', async () => {
    const file = path.join(__dirname, '..', 'dist', 'examples', 'prefork-server.js');
    const { reaper, server, port } = await underSubreaper([file, '--workers', '2']);
    const workers = await until('2 workers', () => {
      const w = childrenOf(server);
      return w.length === 2 && w;
    });
    strays.push(...workers);
    expect(await askLine(port, 'before')).toBe(`${PREFIX}before\n`);
    process.kill(server, 'SIGKILL');
    // Every process below the subreaper ends, and it exits.
    expect(await exitOf(reaper, 10000)).toEqual({ code: 0, signal: null });
    // SIGKILL from the kernel (the death signal), or, for a worker the master
    // forked a moment before it died, exit 1: it saw through getppid() that
    // its master had gone before it could ask for the signal.
    for (const w of workers)
      expect(reaper.out()).toMatch(new RegExp(`subreaper: reaped ${w} (signaled SIGKILL|exited 1)$`, 'm'));
    const again = startExample('prefork-server', ['--port', String(port), '--workers', '1']);
    await until(`a restart on port ${port}:\n${again.out()}${again.err()}`, () =>
      again.out().includes(`Listening on: 127.0.0.1:${port}\n`),
    );
    expect(await askLine(port, 'after')).toBe(`${PREFIX}after\n`);
  });

  test('kill -9 of the forking server: a child waiting for a silent client ends with it', async () => {
    const file = path.join(__dirname, '..', 'dist', 'examples', 'forking-server.js');
    const { reaper, server, port } = await underSubreaper([file]);
    const silent = exchange(port, undefined);
    await silent.connected;
    const kid = await until('the child', () => childrenOf(server)[0]);
    strays.push(kid);
    // Let it reach its read (a master killed before the child's first
    // instructions is noticed there, by getppid(), and the child exits 1).
    await sleepMs(500);
    process.kill(server, 'SIGKILL');
    expect(await exitOf(reaper, 5000)).toEqual({ code: 0, signal: null });
    expect(reaper.out()).toContain(`subreaper: reaped ${kid} signaled SIGKILL`);
    expect((await silent.done).data.toString()).toBe('');
  });

  test('a stopped (stuck) worker does not hang SIGTERM: the master SIGKILLs it after the grace period and exits 0', async () => {
    const r = await startPrefork();
    const [stuck, other] = workerPids(r);
    strays.push(stuck, other);
    process.kill(stuck, 'SIGSTOP');
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r, 30000)).toEqual({ code: 0, signal: null });
    expect(r.out()).toContain('Killing 1 workers that did not stop in time');
    expect(isAlive(stuck)).toBe(false);
    expect(isAlive(other)).toBe(false);
    const port = r.port;
    const restart = startExample('prefork-server', ['--port', String(port), '--workers', '1']);
    await until(`a restart on port ${port}:\n${restart.out()}${restart.err()}`, () =>
      restart.out().includes(`Listening on: 127.0.0.1:${port}\n`),
    );
  });

  test('the crash-loop guard: 12 rounds of kill -9 do not make the master give up', async () => {
    const r = await startPrefork();
    for (let round = 0; round < 12; round++) {
      const current = childrenOf(r.pid);
      for (const w of current) process.kill(w, 'SIGKILL');
      await until(`round ${round}: 2 new workers`, () => {
        const now = childrenOf(r.pid);
        return now.length === 2 && now.every((w) => !current.includes(w));
      });
    }
    expect(isAlive(r.pid)).toBe(true);
    expect(await askLine(r.port, 'still here')).toBe(`${PREFIX}still here\n`);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  test('workers that crash young, again and again: the master backs off instead of quitting, then serves again', async () => {
    const r = await startPrefork();
    // No core files from the crashes.
    for (const pid of [r.pid, ...childrenOf(r.pid)]) execFileSync('prlimit', ['--pid', String(pid), '--core=0']);
    const crashed = new Set<number>();
    const end = Date.now() + 15000;
    while (!/workers keep dying before serving/.test(r.err()) && Date.now() < end) {
      for (const w of childrenOf(r.pid)) {
        if (crashed.has(w)) continue;
        crashed.add(w);
        process.kill(w, 'SIGABRT');
      }
      await sleepMs(20);
    }
    expect(r.err()).toMatch(/^workers keep dying before serving: .*backing off/m);
    expect(isAlive(r.pid)).toBe(true);
    // The cause has passed: after the pause, workers come back and serve.
    await until('2 workers again', () => childrenOf(r.pid).filter((w) => !crashed.has(w)).length === 2, 20000);
    expect(await askLine(r.port, 'recovered')).toBe(`${PREFIX}recovered\n`);
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });
});

describe('5. nothing lost at shutdown', () => {
  /**
   * 16 clients in a closed loop (connect, send a line, read the reply to
   * end of stream) until the server refuses them; SIGTERM after `after`
   * replies. Counts what a client sent and lost: a reset, or an end of
   * stream without the reply.
   */
  async function loadThenStop(r: Watched & { port: number }, after: number): Promise<{ ok: number; lost: string[] }> {
    let ok = 0;
    let sent = 0;
    const lost: string[] = [];
    let stopAt: (() => void) | undefined;
    const reached = new Promise<void>((resolve) => (stopAt = resolve));
    const lane = async (l: number): Promise<void> => {
      for (let i = 0; i < 100000; i++) {
        const line = `lane ${l} #${i}`;
        const res = await exchange(r.port, Buffer.from(`${line}\n`), 20000).done;
        if (res.error === 'ECONNREFUSED') return;
        sent++;
        if (!res.error && res.data.toString() === `${PREFIX}${line}\n`) {
          if (++ok === after) stopAt!();
        } else lost.push(`${line}: ${res.error ?? JSON.stringify(res.data.toString())}`);
      }
    };
    const lanes = Promise.all(Array.from({ length: 16 }, (_, l) => lane(l)));
    await reached;
    process.kill(r.pid, 'SIGTERM');
    await lanes;
    expect(sent).toBeGreaterThan(after);
    return { ok, lost };
  }

  test('forking-server: SIGTERM under load resets no client that the kernel accepted', async () => {
    const r = await startServer('forking-server', ['--linger', '0']);
    const { ok, lost } = await loadThenStop(r, 300);
    expect(lost).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(300);
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });

  test('prefork-server: SIGTERM under load resets no client that the kernel accepted', async () => {
    const r = await startPrefork();
    const { ok, lost } = await loadThenStop(r, 2000);
    expect(lost).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(2000);
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
  });
});

describe('6. logs never stop', () => {
  /**
   * Starts a server whose stdout is a real pipe (a FIFO) read by cat(1), as
   * in `server | cat`. SIGSTOP of cat stalls the pipe, SIGCONT drains it.
   */
  async function startPiped(
    name: string,
    args: string[],
  ): Promise<{ server: Watched; cat: Watched; port: number; fifo: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-stall-'));
    dirs.push(dir);
    const fifo = path.join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    const cat = watch(spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const wfd = fs.openSync(fifo, 'w'); // returns once cat has opened its end
    const port = await freePort();
    const file = path.join(__dirname, '..', 'dist', 'examples', `${name}.js`);
    const server = watch(
      spawn(process.execPath, ['--single-threaded', file, '--port', String(port), ...args], {
        stdio: ['ignore', wfd, 'pipe'],
      }),
    );
    fs.closeSync(wfd);
    await until(`the banner:\n${cat.out()}${server.err()}`, () =>
      cat.out().includes(`Listening on: 127.0.0.1:${port}\n`),
    );
    return { server, cat, port, fifo };
  }

  /** Stops the reader and fills what is left of the pipe; returns the filler lines written and the way to resume. */
  function stall(cat: Watched, fifo: string): { fillers: number; resume: () => void } {
    process.kill(cat.pid, 'SIGSTOP');
    const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    let fillers = 0;
    try {
      for (;;) {
        fs.writeSync(fd, 'filler\n');
        fillers++;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    } finally {
      fs.closeSync(fd);
    }
    return { fillers, resume: () => process.kill(cat.pid, 'SIGCONT') };
  }

  test('forking-server | cat, cat stopped then resumed: every line arrives', async () => {
    const { server, cat, port, fifo } = await startPiped('forking-server', ['--linger', '0']);
    expect(await askLine(port, 'first')).toBe(`${PREFIX}first\n`);
    await until('the first child reaped', () => /is shutting down/.test(cat.out()));
    const { fillers, resume } = stall(cat, fifo);
    expect(fillers).toBeGreaterThan(1000);
    const asks = Array.from({ length: 20 }, (_, i) => askLine(port, `stalled ${i}`, 30000));
    await sleepMs(1000);
    resume();
    const replies = await Promise.all(asks);
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `${PREFIX}stalled ${i}\n`));
    await until('21 children reported', () => (cat.out().match(/^Worker \d+ is shutting down$/gm) ?? []).length === 21);
    expect((cat.out().match(/^filler$/gm) ?? []).length).toBe(fillers);
    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(await exitOf(cat)).toEqual({ code: 0, signal: null });
    expect(cat.out()).toContain(`Quitting process ${server.pid}\n`);
  });

  test('prefork-server | cat, cat stopped then resumed: every line arrives', async () => {
    const { server, cat, port, fifo } = await startPiped('prefork-server', ['--workers', '2']);
    const [a, b] = await until('2 workers', () => {
      const w = workerPids(cat);
      return w.length === 2 && w;
    });
    const { fillers, resume } = stall(cat, fifo);
    process.kill(a, 'SIGKILL');
    await sleepMs(300);
    process.kill(b, 'SIGKILL');
    await sleepMs(700);
    resume();
    await until('both deaths and replacements reported', () => workerPids(cat).length === 4);
    expect(cat.out()).toContain(`Worker ${a} died (killed by SIGKILL)`);
    expect(cat.out()).toContain(`Worker ${b} died (killed by SIGKILL)`);
    expect((cat.out().match(/^filler$/gm) ?? []).length).toBe(fillers);
    expect(await askLine(port, 'after')).toBe(`${PREFIX}after\n`);
    process.kill(server.pid, 'SIGTERM');
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(await exitOf(cat)).toEqual({ code: 0, signal: null });
  });
});

describe('7 and 8. exact bytes; no debugger on SIGUSR1', () => {
  const bytes = Buffer.concat([
    Buffer.from('raw '),
    Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i)),
    Buffer.from([0xc3, 0x28, 0xff]),
  ]);

  test.each(['forking-server', 'prefork-server'] as const)(
    '%s echoes every byte exactly, UTF-8 or not',
    async (name) => {
      const r = name === 'prefork-server' ? await startPrefork() : await startServer(name, ['--linger', '0']);
      const reply = await exchange(r.port, Buffer.concat([bytes, Buffer.from('\n')])).done;
      expect(reply.error).toBeUndefined();
      expect(reply.data.equals(Buffer.concat([Buffer.from(PREFIX), bytes, Buffer.from('\n')]))).toBe(true);
    },
  );

  test.each(['forking-server', 'prefork-server'] as const)(
    '%s: SIGUSR1 opens no debugger, in the server or a child, and --help says so',
    async (name) => {
      const r = name === 'prefork-server' ? await startPrefork() : await startServer(name, ['--linger', '0']);
      const idleChildren = name === 'prefork-server' ? 2 : 0;
      // The server's fds and threads at rest, after one whole request: the
      // forking server holds a client's fd for a moment after its fork, so
      // a count taken while a child starts may include it.
      expect(await askLine(r.port, 'before usr1')).toBe(`${PREFIX}before usr1\n`);
      await until('the first child reaped', () => childrenOf(r.pid).length === idleChildren);
      const fds = fdCount(r.pid);
      const threads = fs.readdirSync(`/proc/${r.pid}/task`).length;
      const child = exchange(r.port, undefined);
      await child.connected;
      const kid = await until('a child', () => childrenOf(r.pid)[0]);
      process.kill(r.pid, 'SIGUSR1');
      process.kill(kid, 'SIGUSR1');
      await sleepMs(300);
      expect(isAlive(kid)).toBe(true);
      child.write(Buffer.from('usr1\n'));
      expect((await child.done).data.toString()).toBe(`${PREFIX}usr1\n`);
      // Node starts its inspector only once the main thread runs JavaScript
      // again: a request makes the server do that.
      expect(await askLine(r.port, 'after usr1')).toBe(`${PREFIX}after usr1\n`);
      await sleepMs(500);
      expect(isAlive(r.pid)).toBe(true);
      expect(r.err()).not.toMatch(/Debugger/);
      await until('the last child reaped', () => childrenOf(r.pid).length === idleChildren);
      expect(fdCount(r.pid)).toBe(fds);
      expect(fs.readdirSync(`/proc/${r.pid}/task`).length).toBe(threads);
      const help = execFileSync(
        process.execPath,
        ['--single-threaded', path.join(__dirname, '..', 'dist', 'examples', `${name}.js`), '--help'],
        { encoding: 'utf8' },
      );
      expect(help).toMatch(/SIGUSR1 is ignored/);
    },
  );
});

describe('7. Socket.readLineBytes', () => {
  test('returns the line as the exact bytes that arrived; readLine keeps the text form', async () => {
    const { Socket, socketpair } = await import('../lib/index.ts');
    const [a, b] = socketpair('AF_UNIX', 'SOCK_STREAM').map((fd) => new Socket({ fd }));
    try {
      const line = Buffer.from([0x68, 0x80, 0xff, 0xc3, 0x28, 0x0d]);
      a.send(Buffer.concat([line.subarray(0, 5), Buffer.from('\r\nnext\n'), line.subarray(0, 5), Buffer.from('\n')]));
      expect(b.readLineBytes(64, { timeoutMs: 2000 }).equals(line.subarray(0, 5))).toBe(true);
      expect(b.readLine(64, { timeoutMs: 2000 })).toBe('next');
      expect(b.readLine(64, { timeoutMs: 2000 })).toBe('h\ufffd\ufffd\ufffd(');
      a.close();
      expect(b.readLineBytes(64, { timeoutMs: 2000 })).toEqual(Buffer.alloc(0));
    } finally {
      a.close();
      b.close();
    }
  });
});
