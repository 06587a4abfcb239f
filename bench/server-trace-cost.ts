/**
 * What the syscall trace costs when it is off. Every traced call goes
 * through traced() in lib/trace.ts, which tests one boolean and then runs the
 * call; the callers also build two small closures (the argument formatter and
 * the call). This prints ns/call for:
 *
 *   noop direct / noop traced off   a JavaScript function returning a number,
 *              called directly and through traced(): the wrapper's own cost
 *              without a system call to hide it
 *   direct     native.getpid(), no wrapper: what a build with the trace
 *              compiled out would run (the baseline)
 *   traced off    the same call through traced() with the trace off
 *   traced on     through traced() with the trace on and a writer that drops lines
 *   getsockname (public API, trace off) and native.getsockname: the whole
 *              public path (validation, address conversion) for scale
 *
 * Rounds alternate the variants; the median of the rounds is printed.
 * Run: node dist/bench/server-trace-cost.js [iterations per round]
 */
import { native } from '../lib/native.ts';
import { traced, setTrace } from '../lib/trace.ts';
import { getsockname, socket, close, bind } from '../lib/index.ts';

const N = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = 7;

function time(f: () => void, n: number): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / n;
}

let sink = 0;

let counter = 0;
const noop = (): number => ++counter;

const variants: Record<string, (n: number) => number> = {
  'noop direct': (n) =>
    time(() => {
      for (let i = 0; i < n; i++) sink ^= noop();
    }, n),
  'noop traced off': (n) =>
    time(() => {
      setTrace(false);
      for (let i = 0; i < n; i++)
        sink ^= traced(
          'noop',
          () => '',
          () => noop(),
        );
    }, n),
  direct: (n) =>
    time(() => {
      for (let i = 0; i < n; i++) sink ^= native.getpid();
    }, n),
  'traced off': (n) =>
    time(() => {
      setTrace(false);
      for (let i = 0; i < n; i++)
        sink ^= traced(
          'getpid',
          () => '',
          () => native.getpid(),
        );
    }, n),
  'traced on (dropped lines)': (n) => {
    setTrace(true, () => {});
    try {
      return time(() => {
        for (let i = 0; i < n; i++)
          sink ^= traced(
            'getpid',
            () => '',
            () => native.getpid(),
          );
      }, n);
    } finally {
      setTrace(false);
    }
  },
};

const fd = socket('AF_INET', 'SOCK_STREAM');
bind(fd, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
const sockVariants: Record<string, (n: number) => number> = {
  'native.getsockname': (n) =>
    time(() => {
      for (let i = 0; i < n; i++) sink ^= native.getsockname(fd).family.length;
    }, n),
  'getsockname, trace off': (n) =>
    time(() => {
      for (let i = 0; i < n; i++) sink ^= getsockname(fd).family.length;
    }, n),
};

function run(set: Record<string, (n: number) => number>, n: number): void {
  const results: Record<string, number[]> = {};
  for (const k of Object.keys(set)) set[k](Math.min(n, 100_000)); // warm up, let the JIT settle
  for (let r = 0; r < ROUNDS; r++) for (const [k, f] of Object.entries(set)) (results[k] ??= []).push(f(n));
  for (const [k, v] of Object.entries(results)) {
    v.sort((a, b) => a - b);
    console.log(`${k.padEnd(24)} ${v[v.length >> 1].toFixed(1).padStart(8)} ns/call (min ${v[0].toFixed(1)})`);
  }
}

console.log(`node ${process.version}, ${N} calls per round, median of ${ROUNDS} rounds`);
run(variants, N);
run(sockVariants, Math.max(1, Math.floor(N / 10)));
close(fd);
if (sink === 0.5) console.log(sink); // keep the loops from being optimised away
