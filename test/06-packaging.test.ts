/**
 * The BUILT package, imported by name the way a user's project does it:
 * from an ES module and from CommonJS, each in a fresh node process, with
 * errors crossing between the two faces still passing `instanceof`, and
 * type declarations that TypeScript resolves for both.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root, userProject } from './helpers';

let dir: string;

beforeAll(() => {
  dir = userProject('wtf-pkg-');
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the build is there: CommonJS entry, ES module entry, declarations', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(pkg.name).toBe('what-the-fork');
  for (const file of [
    pkg.main,
    pkg.types,
    pkg.exports['.'].import.default,
    pkg.exports['.'].import.types,
    pkg.exports['.'].require.types,
  ])
    expect(fs.existsSync(path.join(root, file))).toBe(true);
  const dts = fs.readFileSync(path.join(root, 'dist', 'lib', 'index.d.ts'), 'utf8');
  expect(dts).toMatch(/from '\.\/sockets\/syscalls'/);
  expect(dts).toMatch(/export \* from '\.\/errors'/);
  const sockets = fs.readFileSync(path.join(root, 'dist', 'lib', 'sockets', 'syscalls.d.ts'), 'utf8');
  expect(sockets).toMatch(/export declare function socket\(/);
  const options = fs.readFileSync(path.join(root, 'dist', 'lib', 'sockets', 'options.d.ts'), 'utf8');
  expect(options).toMatch(/export declare function setsockopt</);
});

test('ESM: import by name, drive the raw layer, errors are the CommonJS classes', () => {
  const script = `
    import { createRequire } from 'node:module';
    import lib, { socket, bind, listen, getsockname, close, PosixError, AddressInUseError,
      BadFileDescriptorError, ConnectionError, isErrno, Socket, ReuseAddr } from 'what-the-fork';
    const cjs = createRequire(import.meta.url)('what-the-fork');
    const out = {};
    const a = socket('AF_INET', 'SOCK_STREAM');
    bind(a, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
    listen(a, 4);
    const { port } = getsockname(a);
    const b = socket('AF_INET', 'SOCK_STREAM');
    try { bind(b, { family: 'AF_INET', address: '127.0.0.1', port }); } catch (err) {
      out.message = err.message === 'bind EADDRINUSE: address already in use 127.0.0.1:' + port;
      out.esmClass = err instanceof AddressInUseError && err instanceof PosixError && err instanceof Error;
      out.cjsClass = err instanceof cjs.AddressInUseError && err instanceof cjs.PosixError;
      out.isErrno = isErrno(err, 'EADDRINUSE') && cjs.isErrno(err, 'EADDRINUSE');
      out.fields = err.code === 'EADDRINUSE' && err.syscall === 'bind' && err.port === port;
    }
    // The other way: an error thrown through require(), caught as the ESM class.
    close(b);
    try { cjs.close(b); } catch (err) {
      out.reverse = err instanceof BadFileDescriptorError && err instanceof PosixError;
      out.notConnection = !(err instanceof ConnectionError);
    }
    close(a);
    out.same = lib.socket === socket && cjs.socket === socket && cjs.Socket === Socket;
    const s = new Socket();
    s.setSockOpt(ReuseAddr, true);
    out.socketClass = s.getSockOpt(ReuseAddr) === true;
    s.close();
    console.log(JSON.stringify(out));
  `;
  const r = node(['--input-type=module', '-e', script]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    message: true,
    esmClass: true,
    cjsClass: true,
    isErrno: true,
    fields: true,
    reverse: true,
    notConnection: true,
    same: true,
    socketClass: true,
  });
});

test('CommonJS: require by name, errors are the ESM classes', () => {
  const script = `
    const lib = require('what-the-fork');
    const { socket, connect, bind, close, getsockname, ConnectionRefusedError, ConnectionError, PosixError } = lib;
    (async () => {
      const esm = await import('what-the-fork');
      const out = {};
      const holder = socket('AF_INET', 'SOCK_STREAM');
      bind(holder, { family: 'AF_INET', address: '127.0.0.1', port: 0 });
      const { port } = getsockname(holder);
      const c = socket('AF_INET', 'SOCK_STREAM');
      try { connect(c, { family: 'AF_INET', address: '127.0.0.1', port }); } catch (err) {
        out.cjsClass = err instanceof ConnectionRefusedError && err instanceof ConnectionError && err instanceof PosixError;
        out.esmClass = err instanceof esm.ConnectionRefusedError && err instanceof esm.PosixError;
        out.code = err.code;
        out.name = err.name;
      }
      try { esm.close(9999); } catch (err) {
        out.reverse = err instanceof lib.BadFileDescriptorError;
      }
      close(c);
      close(holder);
      out.constants = typeof lib.AF_INET === 'number' && lib.AF_INET === esm.AF_INET;
      out.pkg = require('what-the-fork/package.json').name;
      console.log(JSON.stringify(out));
    })();
  `;
  const r = node(['-e', script]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    cjsClass: true,
    esmClass: true,
    code: 'ECONNREFUSED',
    name: 'ConnectionRefusedError',
    reverse: true,
    constants: true,
    pkg: 'what-the-fork',
  });
});

test('TypeScript resolves the declarations for both faces, and they are real types', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = [
    '--noEmit',
    '--strict',
    '--module',
    'node16',
    '--moduleResolution',
    'node16',
    '--target',
    'es2022',
    '--skipLibCheck',
    '--typeRoots',
    path.join(root, 'node_modules', '@types'),
    '--types',
    'node',
  ];
  const good = {
    'esm.mts': `import { socket, setsockopt, getsockopt, PosixError, AddressInUseError, type SocketAddress } from 'what-the-fork';
      const fd: number = socket('AF_INET', 'SOCK_STREAM', { nonblock: true });
      const a: SocketAddress = { family: 'AF_INET6', address: '::1', port: 1 };
      setsockopt(fd, 'SO_LINGER', { onoff: true, linger: 0 });
      const t: number = getsockopt(fd, 'SO_RCVTIMEO');
      const e: PosixError = new AddressInUseError(98, 'bind');
      export { a, t, e };`,
    'cjs.cts': `import lib = require('what-the-fork');
      const fd: number = lib.socket('AF_UNIX', 'SOCK_STREAM');
      const on: boolean = lib.getsockopt(fd, 'SO_REUSEADDR');
      const err: lib.PosixError | undefined = undefined;
      export = { on, err };`,
  };
  for (const [file, text] of Object.entries(good)) fs.writeFileSync(path.join(dir, file), text);
  const ok = node([tsc, ...common, ...Object.keys(good).map((f) => path.join(dir, f))]);
  expect(ok.stdout + ok.stderr).toBe('');
  expect(ok.status).toBe(0);
  // A typing mistake must be caught: the declarations are not `any`.
  const badFile = path.join(dir, 'bad.mts');
  fs.writeFileSync(
    badFile,
    `import { setsockopt, socket } from 'what-the-fork';
     setsockopt(socket('AF_INET', 'SOCK_STREAM'), 'SO_REUSEADDR', 1);
     const s: string = socket('AF_INET', 'SOCK_STREAM');
     export { s };`,
  );
  const bad = node([tsc, ...common, badFile]);
  expect(bad.status).not.toBe(0);
  expect(bad.stdout).toMatch(/bad\.mts\(2,.*TS2345/);
  expect(bad.stdout).toMatch(/bad\.mts\(3,.*TS2322/);
});
