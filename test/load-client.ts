/**
 * Runs examples/tools/client.js against a port (16 concurrent clients) for
 * the tests of the servers in examples/: resolves with its exit status and
 * its summary line (`ok=<n> errors=<m> ...`).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { root } from './helpers.ts';

export function runLoadClient(port: number, connections: number): Promise<{ code: number | null; out: string }> {
  const client = spawn(
    process.execPath,
    [
      path.join(root, 'dist', 'examples', 'tools', 'client.js'),
      ...['--port', String(port), '--connections', String(connections), '--concurrency', '16', '--timeout', '100'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => client.on('close', (code) => resolve({ code, out })));
}
