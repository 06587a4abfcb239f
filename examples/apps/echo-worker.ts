/**
 * A worker function for the prefork server: it gets the listening sockets
 * and serves the blog's line protocol (read a line, answer
 * "SERVED BY Node: <line>", close) with a node:net server. `ctx.serve`
 * makes the server listen on the inherited fds, counts connections toward
 * maxRequests and wires the graceful stop.
 *
 * Run it:   npm run build
 *           node bin/what-the-fork.js serve dist/examples/apps/echo-worker.js --listen 127.0.0.1:9093
 * Try it:   printf 'hello\n' | nc 127.0.0.1 9093
 */
import * as net from 'node:net';
import { defineWorker } from '../../lib/index.ts';

const MAX_LINE = 64 * 1024;

export default defineWorker((ctx) => {
  const server = net.createServer((sock) => {
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      data += chunk;
      const nl = data.indexOf('\n');
      if (nl < 0 && data.length <= MAX_LINE) return;
      const line = nl < 0 ? '' : data.slice(0, nl).replace(/\r$/, '');
      sock.end(nl < 0 ? `ERROR: line longer than ${MAX_LINE} bytes\n` : `SERVED BY Node: ${line}\n`);
      sock.removeAllListeners('data');
    });
    sock.on('error', () => sock.destroy());
  });
  ctx.serve(server);
});
