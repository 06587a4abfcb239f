/**
 * The package as a user gets it. `npm pack` (which builds the prebuilt addon
 * and the TypeScript; or the tarball WTF_PACKED_TARBALL names, which CI
 * packs once for every Node it runs the suite on), the tarball's file list against the expected one, then
 * an install of the tarball into a fresh project whose PATH holds node, npm
 * and sh but no compiler, make or python, and there: both module faces, the
 * README's tour as an ES module and as CommonJS, the forking server from the
 * installed examples, `npx what-the-fork serve` on the user's own app, the declarations under TypeScript 5 and the current
 * major with skipLibCheck off, and the way out when no binary fits.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { askLine, exitOf, freePort, isAlive, killWatched, root, until, watch } from './helpers.ts';
import { compileTour, serveTour } from './tour.ts';

/** The TypeScript versions a consumer's tsc runs as: the last 5.x and the current major. */
const TYPESCRIPTS = { 'typescript-5': '5.9.3', 'typescript-7': '7.0.2' };
const PREBUILD = path.join('prebuilds', 'linux-x64', 'what-the-fork.glibc.node');
/**
 * The prebuilt addons a tarball carries: this machine's always, and
 * linux-arm64 wherever its cross g++ is installed (scripts/cross-tools.sh;
 * CI installs it, so a release tarball has both).
 */
const CROSS_ARM64 = spawnSync('sh', ['-c', 'command -v aarch64-linux-gnu-g++']).status === 0;
const PREBUILDS = [
  PREBUILD,
  ...(CROSS_ARM64 ? [path.join('prebuilds', 'linux-arm64', 'what-the-fork.glibc.node')] : []),
];

let work: string;
let dir: string;
let pkg: string;
/**
 * A user's environment: no npm_* variables, no WTF_ADDON_PATH (the suite may
 * run against another build of the addon; a user's install loads its own),
 * PATH without a compiler.
 */
let env: NodeJS.ProcessEnv;

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? dir,
    env: opts.env ?? env,
    encoding: 'utf8',
    timeout: opts.timeout ?? 60000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function node(
  args: string[],
  extra: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  return run(process.execPath, args, { env: { ...env, ...extra } });
}

/** A folder holding only node, npm and sh: what a machine without build tools offers. */
function bareBin(): string {
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  const npm = run('sh', ['-c', 'command -v npm'], { cwd: root, env: process.env }).stdout.trim();
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(fs.realpathSync(npm), path.join(bin, 'npm'));
  fs.symlinkSync(fs.realpathSync(path.join(path.dirname(npm), 'npx')), path.join(bin, 'npx'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  return bin;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'wtf-pkg-'));
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  let tarball = path.join(work, `what-the-fork-${version}.tgz`);
  const packed = process.env.WTF_PACKED_TARBALL;
  if (packed) {
    // CI packs once, from the same checkout, and every run of the suite
    // installs that tarball.
    if (!path.isAbsolute(packed) || !packed.endsWith(`what-the-fork-${version}.tgz`) || !fs.existsSync(packed))
      throw new Error(
        `WTF_PACKED_TARBALL must name an existing what-the-fork-${version}.tgz by absolute path: ${packed}`,
      );
    tarball = packed;
  } else {
    // npm pack runs prepack (the prebuilt addon) and prepare (the
    // TypeScript), under the lock the development builds take.
    const pack = run('flock', ['/tmp/what-the-fork-build.lock', 'npm', 'pack', '--pack-destination', work], {
      cwd: root,
      env: process.env,
      timeout: 300000,
    });
    if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stdout}${pack.stderr}`);
  }
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'WTF_ADDON_PATH'));
  env.PATH = bareBin();
  dir = path.join(work, 'project');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true }));
  const deps = Object.entries(TYPESCRIPTS).map(([alias, v]) => `${alias}@npm:typescript@${v}`);
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...deps], {
    timeout: 300000,
  });
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}${install.stderr}`);
  pkg = path.join(dir, 'node_modules', 'what-the-fork');
}, 600000);

afterEach(killWatched);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Every file under `rel` (relative to the repository), recursively. */
function filesUnder(rel: string): string[] {
  return fs
    .readdirSync(path.join(root, rel), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** What the tarball must hold: the sources' files and their compiled forms (so renaming a source needs no edit here), and the prebuilds. */
function expectedFiles(): string[] {
  const compiled = (from: string) =>
    filesUnder(from)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => ['.js', '.js.map', '.d.ts'].map((ext) => path.join('dist', f.replace(/\.ts$/, ext))));
  return [
    ...['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'binding.gyp'],
    ...['dist/esm/index.mjs', 'dist/esm/index.d.mts'],
    ...['bin', 'lib', 'native', 'examples', 'docs'].flatMap(filesUnder),
    ...compiled('lib'),
    ...compiled('examples'),
    ...PREBUILDS,
  ].sort();
}

test('npm pack --dry-run lists exactly the expected files, and what the README points at is among them', () => {
  const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env: process.env });
  expect(r.status).toBe(0);
  const listed = (JSON.parse(r.stdout)[0].files as { path: string }[]).map((f) => f.path).sort();
  const missing = PREBUILDS.filter((f) => !listed.includes(f));
  if (missing.length > 0)
    throw new Error(`npm pack built no ${missing.join(', ')}: bash scripts/cross-tools.sh installs the cross g++`);
  expect(listed).toEqual(expectedFiles());
  // Every relative link of the README and CHANGELOG names a packed file.
  for (const doc of ['README.md', 'CHANGELOG.md']) {
    const text = fs.readFileSync(path.join(root, doc), 'utf8');
    const links = [...text.matchAll(/\]\(((?:docs|examples|lib)\/[^)#]+)/g)].map((m) => m[1]);
    for (const link of links) expect(listed).toContain(link);
  }
});

test('installed with no compiler on PATH: nothing was compiled, the prebuilt addon is what loads', () => {
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3'])
    expect(run('sh', ['-c', `command -v ${tool}`]).status).not.toBe(0);
  expect(fs.lstatSync(pkg).isDirectory()).toBe(true);
  expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
  const r = node([
    '-e',
    `require('what-the-fork');
     const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
     console.log([...new Set(maps.split('\\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\\s+/).pop()))].join());`,
  ]);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe(fs.realpathSync(path.join(pkg, PREBUILD)));
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

test.each([
  ['an ES module', 'esm', 'tour.mjs'],
  ['CommonJS', 'cjs', 'tour.cjs'],
] as const)("the README's tour runs from the installed package as %s", async (_, kind, name) => {
  const port = await freePort();
  const file = path.join(dir, name);
  fs.writeFileSync(file, compileTour(port, kind));
  const r = await serveTour(dir, file, port, ['one', 'two'], env);
  expect(r.answers).toEqual(['SERVED BY Node: one\n', 'SERVED BY Node: two\n']);
  expect(r.zombies).toEqual([]);
  expect(r.stderr).toBe('');
});

test('the forking server runs from the installed package, answers, and stops on SIGTERM', async () => {
  const port = await freePort();
  // No --single-threaded: the example execs itself with it, as a user's `node server.js` would.
  const server = watch(
    spawn(process.execPath, [path.join(pkg, 'dist', 'examples', 'forking-server.js'), '--port', String(port)], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await until(`"Listening on" from the server:\n${server.out()}${server.err()}`, () =>
    server.out().includes(`Listening on: 127.0.0.1:${port}\n`),
  );
  expect(await askLine(port, 'hello')).toBe('SERVED BY Node: hello\n');
  server.child.kill('SIGTERM');
  expect(await exitOf(server)).toEqual({ code: 0, signal: null });
  expect(server.err()).toBe('');
});

test("npx what-the-fork serve app.js --workers 2 --port N: the user's own app answers; SIGTERM stops master and workers", async () => {
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'app.js'),
    "module.exports = (req, res) => res.end('hello from worker ' + process.pid + '\\n');\n",
  );
  // A process group of its own (npx, its shell, the master and the workers),
  // killed by its id if the test fails.
  const npx = watch(
    spawn(
      path.join(env.PATH as string, 'npx'),
      ['what-the-fork', 'serve', 'app.js', '--workers', '2', '--port', String(port)],
      {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    ),
  );
  try {
    const [, master] = await until(
      `the workers' ready line:\n${npx.out()}${npx.err()}`,
      () => /\[prefork (\d+)\] ready: 2 workers accepting/.exec(npx.out()) ?? undefined,
    );
    const workers = [...npx.out().matchAll(/\(pid (\d+)\) spawned/g)].map((m) => Number(m[1]));
    expect(workers).toHaveLength(2);
    const answer = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(workers.map((w) => `hello from worker ${w}\n`)).toContain(answer);
    process.kill(Number(master), 'SIGTERM');
    expect(await exitOf(npx)).toEqual({ code: 0, signal: null });
    for (const w of workers) expect(isAlive(w)).toBe(false);
  } finally {
    try {
      process.kill(-npx.pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
});

test.each(Object.entries(TYPESCRIPTS))(
  'the declarations type-check in a consumer with skipLibCheck off (%s, %s)',
  (alias, version) => {
    const tsc = path.join(dir, 'node_modules', alias, 'bin', 'tsc');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', alias, 'package.json'), 'utf8')).version).toBe(
      version,
    );
    const project = path.join(dir, `types-${alias}`);
    fs.mkdirSync(project, { recursive: true });
    // A consumer's tsconfig as written by hand: no `types`, no typeRoots, nothing skipped.
    const tsconfig = (files: string[]) =>
      JSON.stringify({
        compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false },
        files,
      });
    fs.writeFileSync(
      path.join(project, 'esm.mts'),
      `import { socket, recv, setsockopt, getsockopt, PosixError, AddressInUseError, type SocketAddress } from 'what-the-fork';
      const fd: number = socket('AF_INET', 'SOCK_STREAM', { nonblock: true });
      const a: SocketAddress = { family: 'AF_INET6', address: '::1', port: 1 };
      setsockopt(fd, 'SO_LINGER', { onoff: true, linger: 0 });
      const t: number = getsockopt(fd, 'SO_RCVTIMEO');
      const e: PosixError = new AddressInUseError(98, 'bind');
      const text: string = recv(fd, 16).toString('utf8');
      export { a, t, e, text };`,
    );
    fs.writeFileSync(
      path.join(project, 'cjs.cts'),
      `import lib = require('what-the-fork');
      const fd: number = lib.socket('AF_UNIX', 'SOCK_STREAM');
      const on: boolean = lib.getsockopt(fd, 'SO_REUSEADDR');
      const err: lib.PosixError | undefined = undefined;
      export = { on, err };`,
    );
    fs.writeFileSync(path.join(project, 'tsconfig.json'), tsconfig(['esm.mts', 'cjs.cts']));
    const ok = run(process.execPath, [tsc, '-p', project]);
    expect(ok.stdout + ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // A typing mistake must be caught: the declarations are not `any`.
    fs.writeFileSync(
      path.join(project, 'bad.mts'),
      `import { setsockopt, socket } from 'what-the-fork';
     setsockopt(socket('AF_INET', 'SOCK_STREAM'), 'SO_REUSEADDR', 1);
     const s: string = socket('AF_INET', 'SOCK_STREAM');
     export { s };`,
    );
    fs.writeFileSync(path.join(project, 'tsconfig.json'), tsconfig(['bad.mts']));
    const bad = run(process.execPath, [tsc, '-p', project]);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/bad\.mts\(2,.*TS2345/);
    expect(bad.stdout).toMatch(/bad\.mts\(3,.*TS2322/);
  },
);

test('WTF_ADDON_PATH chooses the binary, and must name an existing .node file by absolute path', () => {
  const copy = path.join(work, 'chosen', 'what_the_fork.node');
  fs.mkdirSync(path.dirname(copy));
  fs.copyFileSync(path.join(pkg, PREBUILD), copy);
  const loaded = node(
    [
      '-e',
      `require('what-the-fork');
       console.log(require('fs').readFileSync('/proc/self/maps', 'utf8').includes(${JSON.stringify(copy)}));`,
    ],
    { WTF_ADDON_PATH: copy },
  );
  expect(loaded.stderr).toBe('');
  expect(loaded.stdout.trim()).toBe('true');
  for (const bad of ['what_the_fork.node', path.join(work, 'missing.node'), path.join(work, 'chosen')]) {
    const r = node(['-e', "require('what-the-fork')"], { WTF_ADDON_PATH: bad });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`WTF_ADDON_PATH must name an existing .node file by absolute path: ${bad}`);
  }
});

// Last: it compiles an addon into the installed package.
test('when no binary fits, the error lists where it looked and names npm rebuild, which compiles one', () => {
  // LIBC=musl is node-gyp-build's own override: the glibc prebuild no longer fits.
  const musl = { LIBC: 'musl' };
  const r = node(['-e', "require('what-the-fork')"], musl);
  expect(r.status).not.toBe(0);
  const real = fs.realpathSync(pkg);
  expect(r.stderr).toContain(`no native addon fits linux-${process.arch} musl, Node ${process.version}`);
  expect(r.stderr).toContain('WTF_ADDON_PATH: not set');
  expect(r.stderr).toContain(`${path.join(real, 'build', 'Release')}: missing`);
  expect(r.stderr).toContain(`${path.join(real, 'prebuilds', 'linux-x64')}: what-the-fork.glibc.node (none fits)`);
  expect(r.stderr).toMatch(/: npm rebuild what-the-fork\n/);
  // Without a compiler the rebuild fails; with the machine's PATH it compiles.
  expect(run('npm', ['rebuild', 'what-the-fork'], { env: { ...env, ...musl } }).status).not.toBe(0);
  const rebuild = run('npm', ['rebuild', 'what-the-fork'], {
    env: { ...env, ...musl, PATH: process.env.PATH },
    timeout: 300000,
  });
  expect(rebuild.stderr).not.toMatch(/ERR!/);
  expect(rebuild.status).toBe(0);
  expect(fs.existsSync(path.join(pkg, 'build', 'Release', 'what_the_fork.node'))).toBe(true);
  const after = node(['-e', "const w = require('what-the-fork'); console.log(w.getpid() === process.pid)"], musl);
  expect(after.stderr).toBe('');
  expect(after.stdout.trim()).toBe('true');
});
