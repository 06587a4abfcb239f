/**
 * A node:http request listener for the prefork server: the default export
 * is all the command needs. Each worker wraps it in an http server on the
 * listening socket it inherited.
 *
 * Run it:   npm run build
 *           node bin/what-the-fork.js serve dist/examples/apps/hello-http.js --listen 127.0.0.1:8080 --workers 2
 * Try it:   curl http://127.0.0.1:8080/
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export default function hello(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from worker ${process.pid}\n`);
}
