/**
 * The promise API's server path against node:net, in one run, as a ratio;
 * then the cost of one async call against the blocking one.
 *
 * (a) Servers: the one-line protocol (read a line, answer
 *     `SERVED BY Node: <line>`, close) served by one process with
 *     promises.Socket (accept, readLine, send), and by one process with
 *     node:net doing the same. The neutral load generator of
 *     ../shared/bench/loadgen.c (built here with cc) makes 16 concurrent
 *     closed-loop clients; rounds alternate the order. Prints each rate and
 *     the median ratio async/node:net.
 * (b) Calls: a send + recv round trip over a socket pair, blocking, async
 *     when the data is already there, and async when recv has to wait for
 *     the event loop. Prints microseconds per round trip and the ratios.
 *
 * Usage: npm run bench:async   (BENCH_ROUNDS=3 BENCH_CONNECTIONS=5000 BENCH_CALLS=20000,
 *        BENCH_SHARED=<folder of loadgen.c> when it is not in a shared/bench beside the checkout)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { close, recv, send, socketpair, promises as p } from '../lib/index.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 5000);
const calls = Number(process.env.BENCH_CALLS ?? 20000);

async function serveAsync(port: number): Promise<void> {
  const server = new p.Socket();
  server.setSockOpt('SO_REUSEADDR', true);
  server.bindAddr(port, '127.0.0.1');
  server.listen(1024);
  console.log(`Listening on: 127.0.0.1:${port}`);
  for (;;) {
    const client = await server.accept();
    void (async () => {
      try {
        const line = await client.readLine(1024, { timeoutMs: 10000 });
        await client.send(`SERVED BY Node: ${line}\n`);
      } catch {
        // a client that went away
      } finally {
        client.close();
      }
    })();
  }
}

function serveNet(port: number): void {
  net
    .createServer((c) => {
      let buf = '';
      c.on('data', (d) => {
        buf += d;
        const i = buf.indexOf('\n');
        if (i >= 0) c.end(`SERVED BY Node: ${buf.slice(0, i)}\n`);
      });
      c.on('error', () => {});
    })
    .listen({ port, host: '127.0.0.1', backlog: 1024 }, () => console.log(`Listening on: 127.0.0.1:${port}`));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function startServer(kind: string, port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, kind, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout?.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

async function serverRound(loadgen: string, kind: string): Promise<number> {
  const port = await freePort();
  const server = await startServer(kind, port);
  try {
    const out = execFileSync(loadgen, ['-p', String(port), '-c', '16', '-n', String(connections), '-t', '60'], {
      encoding: 'utf8',
    });
    const rate = Number(/rate=([\d.]+)/.exec(out)?.[1] ?? 0);
    const errors = Number(/errors=(\d+)/.exec(out)?.[1] ?? -1);
    console.log(`  ${kind.padEnd(12)} ${out.trim()}`);
    return errors === 0 ? rate : 0;
  } finally {
    await stop(server);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function servers(): Promise<void> {
  // ../shared/bench beside the checkout, or beside a folder above it
  // (a worktree), or BENCH_SHARED.
  const candidates = [process.env.BENCH_SHARED ?? ''].filter(Boolean).map((d) => path.join(d, 'loadgen.c'));
  for (let dir = path.join(__dirname, '..', '..'); path.dirname(dir) !== dir; dir = path.dirname(dir))
    candidates.push(path.join(path.dirname(dir), 'shared', 'bench', 'loadgen.c'));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    console.log(`(a) skipped: the load generator is missing (looked for ${candidates.join(', ')})`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-async-bench-'));
  const loadgen = path.join(dir, 'loadgen');
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', loadgen, file]);
    console.log(`(a) ${connections} connections per run, 16 concurrent clients, ${rounds} rounds`);
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['serve-async', 'serve-net'] : ['serve-net', 'serve-async'];
      const rate: Record<string, number> = {};
      for (const kind of order) rate[kind] = await serverRound(loadgen, kind);
      ratios.push(rate['serve-async'] / rate['serve-net']);
      console.log(`  round ${r + 1}: async/node:net = ${ratios[r].toFixed(2)}x`);
    }
    console.log(`(a) median async/node:net = ${median(ratios).toFixed(2)}x (target >= 0.8x)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function perCall(): Promise<void> {
  const [a, b] = socketpair('AF_UNIX', 'SOCK_STREAM');
  const msg = Buffer.from('x');
  const time = async (fn: () => Promise<void> | void): Promise<number> => {
    for (let i = 0; i < 1000; i++) await fn();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await fn();
    return Number(process.hrtime.bigint() - t0) / 1e3 / calls;
  };
  const blockingUs = await time(() => {
    send(a, msg);
    recv(b, 16);
  });
  const readyUs = await time(async () => {
    await p.send(a, msg);
    await p.recv(b, 16);
  });
  const waitingUs = await time(async () => {
    const r = p.recv(b, 16);
    send(a, msg);
    await r;
  });
  close(a);
  close(b);
  console.log(`(b) send + recv round trip over a socket pair, ${calls} times:`);
  console.log(`  blocking                         ${blockingUs.toFixed(2)} us`);
  console.log(`  async, data already there        ${readyUs.toFixed(2)} us (${(readyUs / blockingUs).toFixed(2)}x)`);
  console.log(
    `  async, recv waits on the loop    ${waitingUs.toFixed(2)} us (${(waitingUs / blockingUs).toFixed(2)}x)`,
  );
}

async function main(): Promise<void> {
  const [kind, port] = process.argv.slice(2);
  if (kind === 'serve-async') return serveAsync(Number(port));
  if (kind === 'serve-net') return serveNet(Number(port));
  await servers();
  await perCall();
}

void main();
