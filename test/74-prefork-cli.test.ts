/**
 * The command line of `what-the-fork serve`: every option to its
 * PreforkServer option, the listen forms, the errors, and the bin's help
 * and exit statuses, and the command as the README's user types it (each
 * master is a subprocess, killed by pid with its workers).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeFlagsToAdd, parseArgs } from '../lib/prefork/cli.ts';
import { parseListen, PreforkServer, type ListenSpec } from '../lib/index.ts';
import * as http from 'node:http';
import { BIN, useMasters } from './prefork-helpers.ts';

const start = useMasters();
const HELLO = path.join(__dirname, '..', 'dist', 'examples', 'apps', 'hello-http.js');

test('every option maps to its PreforkServer option', () => {
  expect(
    parseArgs([
      'serve',
      'app.js',
      ...['-l', '127.0.0.1:0', '--listen=[::1]:80', '--listen', '/run/a.sock', '-l', 'fd:3', '-l', 'systemd'],
      ...['-w', '3', '--backlog', '64', '--reuse-port', '--no-preload', '-t', '5', '--graceful-timeout=7'],
      ...['--max-requests', '100', '--max-requests-jitter', '10', '--min-uptime', '2', '--backoff', '0.2'],
      ...['--backoff-max', '3', '--max-failed-starts', '4', '--status-socket', '/tmp/s.sock'],
    ]),
  ).toEqual({
    app: 'app.js',
    listen: [
      { host: '127.0.0.1', port: 0 },
      { host: '::1', port: 80 },
      { path: '/run/a.sock' },
      { fd: 3 },
      { systemd: true },
    ],
    workers: 3,
    backlog: 64,
    reusePort: true,
    preload: false,
    timeout: 5,
    gracefulTimeout: 7,
    maxRequests: 100,
    maxRequestsJitter: 10,
    minUptime: 2,
    backoffInitial: 0.2,
    backoffMax: 3,
    maxFailedStarts: 4,
    statusSocket: '/tmp/s.sock',
  });
  expect(parseArgs(['serve', 'a.js'])).toEqual({ app: 'a.js', listen: undefined });
  expect(parseArgs([])).toBe('help');
  expect(parseArgs(['serve', 'a.js', '--help'])).toBe('help');
});

test('listen forms and bad command lines', () => {
  expect(parseListen('8080')).toEqual({ host: undefined, port: 8080 });
  expect(parseListen('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
  expect(() => parseListen('nowhere')).toThrow(RangeError);
  expect(() => parseArgs(['start', 'a.js'])).toThrow(/unknown command "start"/);
  expect(() => parseArgs(['serve'])).toThrow(/app module is missing/);
  expect(() => parseArgs(['serve', 'a.js', 'b.js'])).toThrow(/one app only/);
  expect(() => parseArgs(['serve', 'a.js', '--workers'])).toThrow(/--workers needs a value/);
  expect(() => parseArgs(['serve', 'a.js', '--workers', 'many'])).toThrow(/--workers: not a number/);
  expect(() => parseArgs(['serve', 'a.js', '--frobnicate'])).toThrow(/unknown option --frobnicate/);
  expect(() => parseListen('99999')).toThrow(/--listen "99999": a port is an integer from 0 to 65535/);
  expect(() => parseListen('[::1]:65536')).toThrow(/a port is an integer from 0 to 65535/);
  expect(() => parseArgs(['serve', 'a.js', '-b', 'x:70000'])).toThrow(/-b "x:70000": a port/);
});

test("Unicorn's and gunicorn's spellings: -p/--port and -o/--host make one more TCP address, -b/--bind is --listen", () => {
  expect(parseArgs(['serve', 'a.js', '--workers', '4', '--port', '8080'])).toEqual({
    app: 'a.js',
    workers: 4,
    listen: [{ host: '0.0.0.0', port: 8080 }],
  });
  expect(parseArgs(['serve', 'a.js', '-o', 'localhost', '-p', '0', '-b', '[::1]:81'])).toEqual({
    app: 'a.js',
    listen: [
      { host: '::1', port: 81 },
      { host: 'localhost', port: 0 },
    ],
  });
  expect(parseArgs(['serve', 'a.js', '--host=127.0.0.1'])).toEqual({
    app: 'a.js',
    listen: [{ host: '127.0.0.1', port: 8080 }],
  });
  expect(() => parseArgs(['serve', 'a.js', '--port', '80x'])).toThrow(/--port "80x": a port is an integer/);
  expect(() => parseArgs(['serve', 'a.js', '--port', '-1'])).toThrow(/--port "-1"/);
  expect(() => parseArgs(['serve', 'a.js', '--host', ''])).toThrow(/--host needs a host name/);
});

test('PreforkServer checks its listen option as it is given', () => {
  const make = (listen: unknown) => () => new PreforkServer({ app: () => {}, listen: listen as ListenSpec });
  expect(make({ port: 70000 })).toThrow(/"listen\[0\]\.port".*65535/);
  expect(make([{ port: 80 }, { path: '' }])).toThrow(/"listen\[1\]\.path" option must be a non-empty string/);
  expect(make({ fd: -1 })).toThrow(/"listen\[0\]\.fd"/);
  expect(make({ port: 80, host: 7 })).toThrow(/"listen\[0\]\.host"/);
  expect(make({ systemd: 'yes' })).toThrow(/"listen\[0\]\.systemd" option must be true/);
  expect(make({ address: 'x' })).toThrow(/must have port, path, fd or systemd/);
  expect(make(7)).toThrow(TypeError);
  expect(make({ host: 'localhost', port: 0 })).not.toThrow();
});

test('the bin: --help exits 0 with the usage, a bad option exits 2 naming it, a missing app exits 1', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30000 });
  const help = run('--help');
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^Usage: what-the-fork serve <app> \[options\]/);
  const bad = run('serve', 'a.js', '--frobnicate');
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/what-the-fork: unknown option --frobnicate/);
  const missing = run('serve', '/nonexistent/app.js', '--listen', '127.0.0.1:0');
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
});

test('the node flags the bin restarts node with: --single-threaded and a young generation cap, unless set', () => {
  const serve = ['serve', 'a.js'];
  expect(nodeFlagsToAdd(serve, [], '')).toEqual(['--single-threaded', '--max-semi-space-size=2']);
  expect(nodeFlagsToAdd(serve, ['--single-threaded'], '')).toEqual(['--max-semi-space-size=2']);
  expect(nodeFlagsToAdd(serve, ['--single-threaded', '--max-semi-space-size=2'], '')).toEqual([]);
  expect(nodeFlagsToAdd([...serve, '--max-semi-space-size', '8'], [], '')).toEqual([
    '--single-threaded',
    '--max-semi-space-size=8',
  ]);
  expect(nodeFlagsToAdd([...serve, '--max-semi-space-size=0'], [], '')).toEqual(['--single-threaded']);
  // The user's own flag wins, given to node or in NODE_OPTIONS.
  expect(nodeFlagsToAdd(serve, ['--max_semi_space_size=16'], '')).toEqual(['--single-threaded']);
  expect(nodeFlagsToAdd(serve, [], '--trace-gc --max-semi-space-size=4')).toEqual(['--single-threaded']);
  // A bad value adds nothing here; parseArgs reports it.
  expect(nodeFlagsToAdd([...serve, '--max-semi-space-size', 'lots'], [], '')).toEqual(['--single-threaded']);
  expect(() => parseArgs([...serve, '--max-semi-space-size', 'lots'])).toThrow(
    /--max-semi-space-size: not an integer from 0 to 1024/,
  );
  expect(parseArgs([...serve, '--max-semi-space-size', '4'])).toEqual({ app: 'a.js', listen: undefined });
});

test('the bin runs the master under those flags', () => {
  // An app whose import, in the master, reports node's flags and ends it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-flags-'));
  const appFile = path.join(dir, 'flags.js');
  fs.writeFileSync(appFile, 'process.stdout.write(JSON.stringify(process.execArgv)); process.exit(0);\n');
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): string[] => {
    const r = spawnSync(process.execPath, [BIN, 'serve', appFile, '--listen', '127.0.0.1:0', ...args], {
      encoding: 'utf8',
      timeout: 30000,
      env: { ...process.env, ...env },
    });
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as string[];
  };
  try {
    expect(run([])).toEqual(['--single-threaded', '--max-semi-space-size=2']);
    expect(run(['--max-semi-space-size', '0'])).toEqual(['--single-threaded']);
    expect(run([], { NODE_OPTIONS: '--max-semi-space-size=4' })).toEqual(['--single-threaded']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('PreforkServer.run() without --single-threaded rejects with NotSingleThreadedError before it listens', async () => {
  const { PreforkServer, NotSingleThreadedError } = await import('../lib/index.ts');
  // jest runs without the flag: the refusal is what this process sees.
  const server = new PreforkServer({ app: () => undefined, listen: { port: 0, host: '127.0.0.1' } });
  await expect(server.run()).rejects.toBeInstanceOf(NotSingleThreadedError);
  expect(server.addresses()).toEqual([]);
});

test('serve app --workers 4 --host localhost --port N: serves; then SIGTERM stops it with status 0', async () => {
  const m = start(['serve', HELLO, '--workers', '4', '--host', 'localhost', '--port', '0']);
  await m.waitFor(/ready: 4 workers accepting/);
  const [where] = await m.waitFor(/listening on 127\.0\.0\.1:(\d+) \(fd/);
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: Number(where[1]), path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      })
      .on('error', reject);
  });
  expect(body).toMatch(/^200 /);
  m.signal('SIGTERM');
  expect(await m.exited).toEqual({ code: 0, signal: null });
});

test('the bin: what the user can fix is said in one line, without a stack', async () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, 'serve', HELLO, ...args], { encoding: 'utf8', timeout: 30000 });
  const float = run('--workers', '2.5', '--listen', '127.0.0.1:0');
  expect(float.status).toBe(2);
  expect(float.stderr).toMatch(/^what-the-fork: The "workers" option must be an integer\n\nUsage:/);
  const unresolved = run('--host', 'no-such-host.invalid', '--port', '0');
  expect(unresolved.status).toBe(1);
  expect(unresolved.stderr).toMatch(/^what-the-fork: ListenError: listen no-such-host.invalid:0: cannot resolve/);
  expect(unresolved.stderr).not.toMatch(/\n +at /);
  expect(run('--status-socket', '', '--listen', '127.0.0.1:0').status).toBe(2);
  // An error the app's own import threw keeps its stack, even one with a
  // system call's code: it points into the app.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-appfail-'));
  try {
    const appFile = path.join(dir, 'needs-config.js');
    fs.writeFileSync(appFile, "require('fs').readFileSync('/nonexistent/config.json');\nmodule.exports = () => {};\n");
    const failing = spawnSync(process.execPath, [BIN, 'serve', appFile, '--listen', '127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(failing.status).toBe(1);
    expect(failing.stderr).toMatch(/ENOENT: no such file or directory, open '\/nonexistent\/config.json'/);
    expect(failing.stderr).toContain(`at Object.<anonymous> (${appFile}:1:`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A port another socket holds: bind's error, with its errno name and the address.
  const holder = http.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  try {
    const port = (holder.address() as { port: number }).port;
    const busy = run('--listen', `127.0.0.1:${port}`);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toBe(
      `what-the-fork: AddressInUseError: bind EADDRINUSE: address already in use 127.0.0.1:${port}\n`,
    );
  } finally {
    holder.close();
  }
});
