/**
 * The prefork master against node:cluster, in one run, for 1, 2 and 4
 * workers (BENCH_WORKERS), side by side:
 *
 * - requests per second: http hello-world with wrk (prefork serving
 *   bench/prefork-app.ts with BENCH_APP_MB=0, against the same app under
 *   node:cluster) over keep-alive connections (http) and with a new
 *   connection per request (http-close, `Connection: close`), and the line protocol with ../shared/bench/loadgen.c
 *   (examples/apps/echo-worker.ts against ../shared/bench/node_cluster_server.js);
 * - memory per worker, Pss and private (Private_Clean + Private_Dirty from
 *   /proc/<pid>/smaps_rollup), with the app holding ~50 MB of data, after
 *   each worker served some requests;
 * - time from "start a worker" to "the worker accepts": the prefork master's
 *   fork to the worker's ready report (TTIN), against cluster.fork() to the
 *   'listening' event, with the 50 MB app.
 *
 * BENCH_NODE_FLAGS gives both servers the same node flags (cluster's
 * workers inherit them; the serve command then adds none of its own):
 * `--max-semi-space-size=2` shows what the young generation costs each
 * worker. BENCH_SERVE_ARGS adds arguments to the serve command:
 * `--max-semi-space-size 0` runs it with V8's default young generation.
 *
 * Run through bench/prefork-bench.sh (npm run bench:prefork), which builds
 * the load generator and installs wrk when it is missing. Not a test: it
 * prints numbers and ratios, and asserts nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const loadgen = arg('loadgen') ?? '';
const shared = arg('shared') ?? path.join(root, '..', 'shared', 'bench');
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const conc = Number(process.env.BENCH_CONCURRENCY ?? 16);
const starts = Number(process.env.BENCH_STARTS ?? 5);
// Throughput rounds, each prefork and cluster back to back: the median ratio is reported.
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const node = process.execPath;
// Node flags for both servers (BENCH_NODE_FLAGS), e.g. --max-semi-space-size=2.
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const serveArgs = (process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter((f) => f !== '');
const BIN = path.join(root, 'bin', 'what-the-fork.js');
const APP = path.join(root, 'dist', 'bench', 'prefork-app.js');
const CLUSTER_HTTP = path.join(root, 'dist', 'bench', 'prefork-cluster-http.js');
const ECHO = path.join(root, 'dist', 'examples', 'apps', 'echo-worker.js');
const CLUSTER_ECHO = path.join(shared, 'node_cluster_server.js');

interface Server {
  proc: ChildProcess;
  out: string;
  port: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitOut(s: Server, re: RegExp, count = 1, ms = 60000): Promise<RegExpMatchArray[]> {
  const end = Date.now() + ms;
  const g = new RegExp(re.source, re.flags + 'g');
  for (;;) {
    const all = [...s.out.matchAll(g)];
    if (all.length >= count) return all;
    if (Date.now() > end || s.proc.exitCode !== null) throw new Error(`no ${re} in:\n${s.out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

async function start(kind: 'prefork' | 'cluster', proto: 'http' | 'echo', n: number, mb: number): Promise<Server> {
  const port = await freePort();
  const env = { ...process.env, BENCH_APP_MB: String(mb) };
  const argv =
    kind === 'prefork'
      ? [
          BIN,
          'serve',
          proto === 'http' ? APP : ECHO,
          '--listen',
          `127.0.0.1:${port}`,
          '--workers',
          String(n),
          '--backlog',
          '1024',
          ...serveArgs,
        ]
      : proto === 'http'
        ? [CLUSTER_HTTP, String(port), String(n)]
        : [CLUSTER_ECHO, String(port), String(n)];
  const proc = spawn(node, [...nodeFlags, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Server = { proc, out: '', port };
  proc.stdout?.on('data', (d) => (s.out += d));
  proc.stderr?.on('data', (d) => (s.out += d));
  if (kind === 'prefork') await waitOut(s, /ready: \d+ workers accepting/);
  else if (proto === 'http') await waitOut(s, /^listening$/m);
  await waitPort(port);
  if (kind === 'cluster' && proto === 'echo') await new Promise((r) => setTimeout(r, 1000)); // all workers up
  return s;
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 10000);
  await gone;
  clearTimeout(t);
  await new Promise((r) => setTimeout(r, 300)); // workers of cluster exit with their primary
}

function childrenOf(ppid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
        return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === ppid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function memory(pid: number): { pss: number; priv: number } {
  const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0);
  return { pss: kb('Pss') / 1024, priv: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
}

/** wrk's requests per second: over keep-alive connections, or (close) a new connection per request. */
function wrk(port: number, close = false): number {
  const header = close ? ['-H', 'Connection: close'] : [];
  const r = spawnSync('wrk', ['-t2', `-c${conc}`, `-d${seconds}s`, ...header, `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
  });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk said: ${r.stdout}${r.stderr}`);
  const errors = /Socket errors: (.*)/.exec(r.stdout);
  if (errors) process.stdout.write(`  (wrk: socket errors ${errors[1]})\n`);
  return Number(m[1]);
}

function echoLoad(port: number): number {
  const r = spawnSync(loadgen, ['-p', String(port), '-c', String(conc), '-n', '200000', '-t', String(seconds)], {
    encoding: 'utf8',
  });
  const m = /ok=(\d+) errors=(\d+) secs=([\d.]+) rate=(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`loadgen said: ${r.stdout}${r.stderr}`);
  if (Number(m[2]) > 0) process.stdout.write(`  (loadgen: ${m[2]} errors)\n`);
  return Number(m[4]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number, d = 0): string => x.toFixed(d).padStart(9);

/**
 * `rounds` rounds of prefork and cluster back to back, the order
 * alternating from round to round so that a drift in the machine's load
 * hits both: the median rates, and the ratio of each round.
 */
type Proto = 'http' | 'http-close' | 'echo';

async function throughput(proto: Proto, n: number): Promise<{ p: number; c: number; ratios: number[] }> {
  const all: Record<'prefork' | 'cluster', number[]> = { prefork: [], cluster: [] };
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const rates: Record<string, number> = {};
    const order: ('prefork' | 'cluster')[] = (n + round) % 2 === 0 ? ['cluster', 'prefork'] : ['prefork', 'cluster'];
    for (const kind of order) {
      const s = await start(kind, proto === 'echo' ? 'echo' : 'http', n, 0);
      try {
        rates[kind] = proto === 'echo' ? echoLoad(s.port) : wrk(s.port, proto === 'http-close');
      } finally {
        await stop(s);
      }
      all[kind].push(rates[kind]);
    }
    ratios.push(rates.prefork / rates.cluster);
  }
  return { p: median(all.prefork), c: median(all.cluster), ratios };
}

/** n requests over fresh connections, 4 at a time. */
async function warm(port: number, n: number): Promise<void> {
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      c.on('data', () => undefined)
        .on('close', () => resolve())
        .on('error', () => resolve());
    });
  for (let i = 0; i < n; i += 4) await Promise.all([one(), one(), one(), one()]);
}

type Mem = [pss: number, priv: number];
interface MemStart {
  warm: Record<'prefork' | 'cluster', Mem>;
  loaded: Record<'prefork' | 'cluster', Mem>;
  start: Record<'prefork' | 'cluster', number>;
}

function workerMemory(s: Server): Mem {
  const ms = childrenOf(s.proc.pid as number).map(memory);
  return [ms.reduce((a, m) => a + m.pss, 0) / ms.length, ms.reduce((a, m) => a + m.priv, 0) / ms.length];
}

async function memoryAndStart(n: number): Promise<MemStart> {
  const out: MemStart = {
    warm: { prefork: [0, 0], cluster: [0, 0] },
    loaded: { prefork: [0, 0], cluster: [0, 0] },
    start: { prefork: 0, cluster: 0 },
  };
  for (const kind of ['prefork', 'cluster'] as const) {
    const s = await start(kind, 'http', n, 50);
    try {
      // Memory after a warm-up (every worker has run the request path), then after sustained load.
      await warm(s.port, 200 * n);
      out.warm[kind] = workerMemory(s);
      spawnSync('wrk', ['-t1', '-c4', `-d${seconds}s`, `http://127.0.0.1:${s.port}/`]);
      out.loaded[kind] = workerMemory(s);
      const times: number[] = [];
      for (let i = 0; i < starts; i++) {
        if (kind === 'prefork') {
          s.proc.kill('SIGTTIN');
          const all = await waitOut(s, /ready in (\d+) ms/, n + i + 1);
          times.push(Number(all[all.length - 1][1]));
          s.proc.kill('SIGTTOU');
          await waitOut(s, /exited \(exit status 0\)/, i + 1);
        } else {
          s.proc.kill('SIGUSR2');
          const all = await waitOut(s, /started in ([\d.]+) ms/, i + 1);
          times.push(Number(all[all.length - 1][1]));
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      out.start[kind] = median(times);
    } finally {
      await stop(s);
    }
  }
  return out;
}

async function main(): Promise<void> {
  if (!fs.existsSync(loadgen)) throw new Error('--loadgen <path of the built ../shared/bench/loadgen.c> is needed');
  process.stdout.write(
    `node ${process.version}, ${seconds} s per run, ${conc} connections, workers ${workerCounts.join(', ')}; ` +
      `node flags ${JSON.stringify(nodeFlags.join(' '))}, serve arguments ${JSON.stringify(serveArgs.join(' '))}\n\n`,
  );
  process.stdout.write(`requests per second (higher is better), medians of ${rounds} rounds\n`);
  process.stdout.write('workers  protocol        prefork    cluster  prefork/cluster (median; each round)\n');
  for (const n of workerCounts)
    for (const proto of ['http', 'http-close', 'echo'] as const) {
      const { p, c, ratios } = await throughput(proto, n);
      const each = ratios.map((r) => r.toFixed(2)).join(' ');
      process.stdout.write(
        `${String(n).padStart(7)}  ${proto.padEnd(10)}${fmt(p)}  ${fmt(c)}  ${fmt(median(ratios), 2)}x (${each})\n`,
      );
    }
  const mem = (m: MemStart, k: 'warm' | 'loaded'): string =>
    `${fmt(m[k].prefork[0], 1)}${fmt(m[k].cluster[0], 1)}${fmt(m[k].prefork[1], 1)}${fmt(m[k].cluster[1], 1)} ${fmt(m[k].cluster[1] / m[k].prefork[1], 1)}x`;
  const results = new Map<number, MemStart>();
  for (const n of workerCounts) results.set(n, await memoryAndStart(n));
  process.stdout.write('\nmemory per worker with the ~50 MB app, MB (lower is better), pf = prefork, cl = cluster\n');
  process.stdout.write('workers  after       Pss pf   Pss cl  priv pf  priv cl  cl/pf priv\n');
  for (const [n, r] of results) {
    process.stdout.write(`${String(n).padStart(7)}  warm-up ${mem(r, 'warm')}\n`);
    process.stdout.write(`${String(n).padStart(7)}  ${(seconds + ' s load').padEnd(7)} ${mem(r, 'loaded')}\n`);
  }
  process.stdout.write(`\nworker start to accepting, ms, median of ${starts} (lower is better), with the ~50 MB app\n`);
  process.stdout.write('workers   prefork   cluster  cluster/prefork\n');
  for (const [n, r] of results)
    process.stdout.write(
      `${String(n).padStart(7)}${fmt(r.start.prefork, 1)} ${fmt(r.start.cluster, 1)} ${fmt(r.start.cluster / r.start.prefork, 1)}x\n`,
    );
}

main().catch((err: unknown) => {
  process.stderr.write(`prefork-bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
