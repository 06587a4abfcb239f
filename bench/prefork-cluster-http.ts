/**
 * node:cluster serving bench/prefork-app.ts over http: what a Node user
 * writes instead of a prefork master. Usage: node prefork-cluster-http.js PORT N.
 * Prints `listening` once every worker listens, and on SIGUSR2 starts one
 * more worker, prints `started in <ms> ms` when it listens (cluster.fork()
 * to the 'listening' event), and stops it again.
 */
import cluster from 'node:cluster';
import * as http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
const n = Number(process.argv[3] ?? 2);
if (cluster.isPrimary) {
  let up = 0;
  for (let i = 0; i < n; i++)
    cluster.fork().once('listening', () => {
      if (++up === n) console.log('listening');
    });
  process.on('SIGUSR2', () => {
    const t0 = performance.now();
    const w = cluster.fork();
    w.once('listening', () => {
      console.log(`started in ${(performance.now() - t0).toFixed(1)} ms`);
      w.kill();
    });
  });
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const app = require('./prefork-app').default as http.RequestListener;
  http.createServer(app).listen({ port, host: '127.0.0.1', backlog: 1024 });
}
