/**
 * fork + child _exit + waitpid round trip, from Node and from a C program
 * of the same resident size, measured in the same run and alternating, at
 * start-up size and with a ~200 MB live JavaScript heap.
 *
 *   npm run bench:fork      (node --single-threaded dist/bench/fork-bench.js)
 *
 * Node is measured two ways: `fork()` (what users call: the DONTFORK sweep,
 * signal masking, loop re-initialisation, the child's JavaScript set-up,
 * then _exit) and the addon's bare fork (sweep + fork, the child calls
 * _exit at once, no JavaScript in the child).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { _exit, fork, waitpid } from '../lib/index.ts';
import { native } from '../lib/native.ts';

const ROUNDS = Number(process.env.FORK_BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.FORK_BENCH_N ?? 40);
const HEAP_MB = Number(process.env.FORK_BENCH_HEAP_MB ?? 200);

function compileC(): string {
  const src = path.join(__dirname, '..', '..', 'bench', 'fork_c.c');
  const bin = path.join('/tmp', `wtf-fork-c-${process.pid}`);
  execFileSync('cc', ['-O2', '-o', bin, src]);
  return bin;
}

const rssMB = (): number => process.memoryUsage().rss / 2 ** 20;
const vmas = (): number => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter(Boolean).length;

function timeNode(n: number, bare: boolean): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const pid = bare ? native.fork() : fork();
    if (pid === 0) {
      if (bare) native._exit(0);
      _exit(0);
    }
    waitpid(pid);
  }
  return (performance.now() - t0) / n;
}

function timeC(bin: string, mb: number, n: number): { ms: number; rssMB: number; vmas: number } {
  return JSON.parse(execFileSync(bin, [String(Math.round(mb)), String(n)], { encoding: 'utf8' }));
}

function sweepUs(): number {
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) native.markHeapForkable();
  return ((performance.now() - t0) / 200) * 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function measure(label: string, bin: string): void {
  const node: number[] = [];
  const bare: number[] = [];
  const c: number[] = [];
  let cInfo = { ms: 0, rssMB: 0, vmas: 0 };
  const mb = rssMB();
  timeNode(5, false); // warm up: compile the child's path once
  for (let r = 0; r < ROUNDS; r++) {
    node.push(timeNode(PER_ROUND, false));
    cInfo = timeC(bin, mb, PER_ROUND);
    c.push(cInfo.ms);
    bare.push(timeNode(PER_ROUND, true));
  }
  const [mn, mb2, mc] = [median(node), median(bare), median(c)];
  console.log(
    `\n${label}: Node RSS ${mb.toFixed(0)} MB (${vmas()} mappings), C RSS ${cInfo.rssMB} MB (${cInfo.vmas} mappings)`,
  );
  console.log(`  DONTFORK sweep alone           ${sweepUs().toFixed(1)} us`);
  console.log(`  C fork+_exit+waitpid           ${mc.toFixed(3)} ms`);
  console.log(`  Node fork() round trip         ${mn.toFixed(3)} ms   Node/C ${(mn / mc).toFixed(2)}`);
  console.log(`  Node bare addon fork           ${mb2.toFixed(3)} ms   Node/C ${(mb2 / mc).toFixed(2)}`);
  console.log(`  (medians of ${ROUNDS} alternating rounds of ${PER_ROUND})`);
}

function main(): void {
  console.log(`fork round trip, ${process.version}, execArgv ${process.execArgv.join(' ')}`);
  const bin = compileC();
  try {
    measure('start-up size', bin);
    // A live heap of ~HEAP_MB: arrays of small objects, kept.
    const keep: { i: number; s: string; a: number[] }[][] = [];
    while (process.memoryUsage().heapUsed < HEAP_MB * 2 ** 20) {
      const batch = [];
      for (let i = 0; i < 10000; i++) batch.push({ i, s: 'v' + i, a: [i, i] });
      keep.push(batch);
    }
    measure(`with a ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB live heap`, bin);
    if (keep.length === 0) throw new Error('unreachable');
  } finally {
    fs.rmSync(bin, { force: true });
  }
}

main();
