/**
 * The application of the prefork benchmark: an http hello-world that holds
 * BENCH_APP_MB megabytes (default 50) of ordinary JavaScript data, built at
 * import time, as a real application's caches and tables would be. Served
 * by the prefork master (imported once, before the fork) and by node:cluster
 * (imported again by every worker).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const mb = Number(process.env.BENCH_APP_MB ?? 50);
const data: { id: number; name: string; value: number; tags: string[] }[] = [];
const base = process.memoryUsage().heapUsed;
for (let i = 0; process.memoryUsage().heapUsed - base < mb * 1e6; i++) {
  for (let j = 0; j < 10000; j++, i++)
    data.push({ id: i, name: `item-${i}`, value: i * 1.5, tags: [`t${i % 7}`, `u${i % 11}`] });
}

export default function app(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello ${data.length}\n`);
}
