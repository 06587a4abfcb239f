/**
 * A load client for every server in examples/: it opens many connections,
 * up to --concurrency of them at the same time, sends each a line
 * `hello <n>`, reads the reply to end of stream and checks that it is
 * exactly `SERVED BY Node: hello <n>\n`. At the end it prints
 *     ok=<n> errors=<m> elapsed=<seconds>s rate=<connections per second>/s
 * and exits with status 1 if any connection failed or the time ran out.
 *
 * It uses node:net, not this package's blocking calls, on purpose. A
 * blocking connect(2) or recv(2) holds the whole thread, so one process
 * could only keep one connection in flight at a time. node:net puts every
 * socket in non-blocking mode and lets libuv wait for all of them at once
 * with epoll(7): that is what "many connections at once" needs, and it is
 * also how Node programs are normally written. The servers are the forking
 * ones; the client is an ordinary event-driven Node program. It does not
 * fork, so it needs no --single-threaded.
 *
 * Run it:   node dist/examples/tools/client.js --port 9093 --connections 1000 --concurrency 16
 * Options:  --connections N (default 100)  --concurrency C (default 8)
 *           --timeout S: give up after S seconds in all (default 60)
 *           --host 127.0.0.1 or ::1 (loopback only)
 *           --prefix 'SERVED BY Node: ' (what a reply starts with)
 */
import * as net from 'node:net';
import { declareOptions, option, portOption, textOption } from './options.ts';

declareOptions({
  about: 'A load client: many connections at once to one of the example servers.',
  values: {
    port: "the server's port (default 9093; or PORT in the environment)",
    connections: 'how many connections in all (default 100)',
    concurrency: 'how many at the same time (default 8)',
    timeout: 'give up after this many seconds in all (default 60)',
    host: '127.0.0.1 or ::1 (loopback only; default 127.0.0.1)',
    prefix: "what a reply starts with (default 'SERVED BY Node: ')",
  },
});
const port = portOption();
const total = option('connections', 100, { min: 1, max: 1_000_000 });
const concurrency = Math.min(option('concurrency', 8, { min: 1, max: 1000 }), total);
const timeoutSeconds = option('timeout', 60, { min: 1, max: 3600 });
const host = textOption('host') ?? '127.0.0.1';
const prefix = textOption('prefix') ?? 'SERVED BY Node: ';
// Load goes to this machine only.
if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
  console.error(`--host must be a loopback address (127.0.0.1 or ::1), got '${host}'`);
  process.exit(2);
}

let started = 0;
let ok = 0;
let errors = 0;
let finished = false;
const firstErrors: string[] = [];
const begin = performance.now();

function fail(n: number, why: string): void {
  errors++;
  if (firstErrors.length < 5) firstErrors.push(`#${n}: ${why}`);
}

/** One connection, start to end. Resolves when it is over, whatever happened. */
function one(n: number): Promise<void> {
  return new Promise((resolve) => {
    const line = `hello ${n}`;
    const expected = `${prefix}${line}\n`;
    const chunks: Buffer[] = [];
    let done = false;
    const s = net.connect({ port, host });
    const end = (why?: string): void => {
      if (done) return;
      done = true;
      if (why === undefined) {
        const got = Buffer.concat(chunks).toString('utf8');
        if (got === expected) ok++;
        else fail(n, `expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      } else fail(n, why);
      s.destroy();
      resolve();
    };
    // A server that never answers, or never closes, costs this connection
    // ten seconds, not the whole run.
    s.setTimeout(10_000, () => end('no reply or no end of stream within 10 s'));
    s.on('connect', () => s.write(`${line}\n`));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => end());
    s.on('error', (err) => end(err.message));
  });
}

/** A lane runs connections one after another; `concurrency` lanes run at once. */
async function lane(): Promise<void> {
  while (!finished && started < total) {
    await one(++started);
  }
}

function report(): void {
  const elapsed = (performance.now() - begin) / 1000;
  const missing = total - ok - errors;
  if (missing > 0) errors += missing;
  const rate = Math.round(ok / Math.max(elapsed, 1e-3));
  console.log(`ok=${ok} errors=${errors} elapsed=${elapsed.toFixed(2)}s rate=${rate}/s`);
  for (const e of firstErrors) console.error(e);
  if (missing > 0) console.error(`${missing} connections not finished within ${timeoutSeconds} s`);
}

async function main(): Promise<void> {
  const timer = setTimeout(() => {
    finished = true;
    report();
    process.exit(1);
  }, timeoutSeconds * 1000);
  await Promise.all(Array.from({ length: concurrency }, lane));
  clearTimeout(timer);
  report();
  process.exit(errors > 0 ? 1 : 0);
}

void main();
