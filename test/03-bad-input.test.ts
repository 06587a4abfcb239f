/**
 * Bad input never crashes. One sweep calls every exported function of the
 * raw layer with a table of bad arguments (wrong types, NaN, Infinity,
 * negative and huge fds, ports out of range, closed fds, detached buffers,
 * bad addresses) and checks that each throws TypeError, RangeError or a
 * PosixError naming what was wrong, that no fd leaks on the way, and that
 * the process is still alive. The same kind of sweep runs straight against
 * the addon in a subprocess, so a crash there shows as an exit status.
 */
import * as fs from 'node:fs';
import * as raw from '../lib/index.ts';
import * as sockopts from '../lib/sockets/options.ts';
import * as syscalls from '../lib/sockets/syscalls.ts';
import {
  BadFileDescriptorError,
  kill,
  PosixError,
  setParentDeathSignal,
  signal,
  sigaction,
  waitpid,
} from '../lib/index.ts';
import { fdCount, runFixture } from './helpers.ts';

type Expect = [typeof TypeError | typeof RangeError | typeof PosixError, string | RegExp];
type Case = [name: string, call: () => unknown, expected: Expect];

const T = (needle: string | RegExp): Expect => [TypeError, needle];
const R = (needle: string | RegExp): Expect => [RangeError, needle];
const P = (needle: string | RegExp): Expect => [PosixError, needle];

// Values that are not an fd at all, and what each must raise.
const badFds: [string, unknown, Expect][] = [
  ['a string', '3', T('"fd"')],
  ['undefined', undefined, T('"fd"')],
  ['null', null, T('"fd"')],
  ['an object', {}, T('"fd"')],
  ['a bigint', BigInt(3), T('"fd"')],
  ['NaN', NaN, R('"fd"')],
  ['Infinity', Infinity, R('"fd"')],
  ['-Infinity', -Infinity, R('"fd"')],
  ['-1', -1, R('"fd"')],
  ['a fraction', 1.5, R('"fd"')],
  ['2**31', 2 ** 31, R('"fd"')],
  ['2**53', 2 ** 53, R('"fd"')],
];

function detachedBuffer(): Buffer {
  const buf = Buffer.alloc(64); // not from the shared pool: its ArrayBuffer is its own
  structuredClone(buf, { transfer: [buf.buffer] });
  return buf;
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function missingPid(): number {
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  let pid = pidMax - 1;
  while (fs.existsSync(`/proc/${pid}`)) pid--;
  return pid;
}

describe('the raw layer rejects bad arguments with a clear error', () => {
  let good: number;
  let peer: number;
  let closed: number;
  const cases: Case[] = [];
  const loopback = { family: 'AF_INET', address: '127.0.0.1', port: 1 } as const;

  beforeAll(() => {
    [good, peer] = raw.socketpair('AF_UNIX', 'SOCK_STREAM', { nonblock: true });
    // A closed fd far above the ones in use, so that nothing reopens it
    // between the close and the calls below.
    closed = raw.dup2(good, 777);
    raw.close(closed);
  });
  afterAll(() => {
    raw.close(good);
    raw.close(peer);
  });

  // Every function that takes an fd first, with good other arguments.
  const fdFirst: [string, (fd: unknown) => unknown][] = [
    ['bind', (fd) => raw.bind(fd as number, loopback)],
    ['listen', (fd) => raw.listen(fd as number, 1)],
    ['accept', (fd) => raw.accept(fd as number)],
    ['connect', (fd) => raw.connect(fd as number, loopback)],
    ['send', (fd) => raw.send(fd as number, 'x')],
    ['sendAll', (fd) => raw.sendAll(fd as number, 'x')],
    ['recv', (fd) => raw.recv(fd as number, 16)],
    ['shutdown', (fd) => raw.shutdown(fd as number)],
    ['close', (fd) => raw.close(fd as number)],
    ['getsockname', (fd) => raw.getsockname(fd as number)],
    ['getpeername', (fd) => raw.getpeername(fd as number)],
    ['dup', (fd) => raw.dup(fd as number)],
    ['dup2', (fd) => raw.dup2(fd as number, 778)],
    ['setNonBlocking', (fd) => raw.setNonBlocking(fd as number, true)],
    ['isNonBlocking', (fd) => raw.isNonBlocking(fd as number)],
    ['setCloseOnExec', (fd) => raw.setCloseOnExec(fd as number, true)],
    ['isCloseOnExec', (fd) => raw.isCloseOnExec(fd as number)],
    ['setsockopt', (fd) => raw.setsockopt(fd as number, 'SO_REUSEADDR', true)],
    ['getsockopt', (fd) => raw.getsockopt(fd as number, 'SO_REUSEADDR')],
    ['dropNewConnections', (fd) => raw.dropNewConnections(fd as number)],
    ['sendFds', (fd) => raw.sendFds(fd as number, 'x', [])],
    ['recvFds', (fd) => raw.recvFds(fd as number, 16, 1)],
    ['sendto', (fd) => raw.sendto(fd as number, 'x', loopback)],
    ['recvfrom', (fd) => raw.recvfrom(fd as number, 16)],
    ['attachDropFilter', (fd) => raw.attachDropFilter(fd as number)],
  ];
  for (const [fn, call] of fdFirst) {
    for (const [what, value, expected] of badFds) cases.push([`${fn}(${what})`, () => call(value), expected]);
    // A closed fd passes the checks and the kernel says EBADF.
    cases.push([`${fn}(closed fd)`, () => call(closed), [BadFileDescriptorError, /EBADF/]]);
  }

  const addresses: [string, unknown, Expect][] = [
    ['null', null, T('"address"')],
    ['a string', '127.0.0.1:80', T('"address"')],
    ['an array', ['127.0.0.1', 80], T('"address"')],
    ['a revoked proxy', revokedProxy(), T('"address"')],
    ['no family', { address: '127.0.0.1', port: 80 }, R('"address.family"')],
    ['an unknown family', { family: 'AF_BLUETOOTH', address: '127.0.0.1', port: 80 }, R('"address.family"')],
    ['an IPv6 address as AF_INET', { family: 'AF_INET', address: '::1', port: 80 }, T('"address.address"')],
    ['a hostname', { family: 'AF_INET', address: 'localhost', port: 80 }, T('"address.address"')],
    ['a numeric address', { family: 'AF_INET', address: 0x7f000001, port: 80 }, T('"address.address"')],
    ['no port', { family: 'AF_INET', address: '127.0.0.1' }, T('"address.port"')],
    ['port as string', { family: 'AF_INET', address: '127.0.0.1', port: '80' }, T('"address.port"')],
    ['port -1', { family: 'AF_INET', address: '127.0.0.1', port: -1 }, R('"address.port"')],
    ['port 65536', { family: 'AF_INET', address: '127.0.0.1', port: 65536 }, R('"address.port"')],
    ['port NaN', { family: 'AF_INET', address: '127.0.0.1', port: NaN }, R('"address.port"')],
    ['port Infinity', { family: 'AF_INET', address: '127.0.0.1', port: Infinity }, R('"address.port"')],
    ['port 80.5', { family: 'AF_INET', address: '127.0.0.1', port: 80.5 }, R('"address.port"')],
    ['an IPv4 address as AF_INET6', { family: 'AF_INET6', address: '127.0.0.1', port: 80 }, T('"address.address"')],
    ['flowinfo -1', { family: 'AF_INET6', address: '::1', port: 80, flowinfo: -1 }, R('"address.flowinfo"')],
    ['scopeId 2**32', { family: 'AF_INET6', address: '::1', port: 80, scopeId: 2 ** 32 }, R('"address.scopeId"')],
    ['a UNIX path that is a number', { family: 'AF_UNIX', path: 5 }, T('"address.path"')],
    ['an empty UNIX path', { family: 'AF_UNIX', path: '' }, R('"address.path"')],
    ['a UNIX path too long', { family: 'AF_UNIX', path: '/tmp/' + 'x'.repeat(200) }, R('"address.path"')],
  ];
  for (const [what, address, expected] of addresses) {
    cases.push([`bind(good, ${what})`, () => raw.bind(good, address as raw.SocketAddress), expected]);
    cases.push([`connect(good, ${what})`, () => raw.connect(good, address as raw.SocketAddress), expected]);
  }

  const more: Case[] = [
    ['socket(bad domain name)', () => raw.socket('AF_APPLETALK' as raw.Domain, 'SOCK_STREAM'), R('"domain"')],
    ['socket(bad domain number)', () => raw.socket(12345, 'SOCK_STREAM'), R('"domain"')],
    ['socket(NaN domain)', () => raw.socket(NaN, 'SOCK_STREAM'), R('"domain"')],
    ['socket(null domain)', () => raw.socket(null as never, 'SOCK_STREAM'), T('"domain"')],
    ['socket(bad type)', () => raw.socket('AF_INET', 'SOCK_RAW' as raw.SocketType), R('"type"')],
    ['socket(type Infinity)', () => raw.socket('AF_INET', Infinity), R('"type"')],
    ['socket(options a revoked proxy)', () => raw.socket('AF_INET', 'SOCK_STREAM', revokedProxy()), T('"options"')],
    ['socket(options a string)', () => raw.socket('AF_INET', 'SOCK_STREAM', 'nonblock' as never), T('"options"')],
    ['socket(nonblock 1)', () => raw.socket('AF_INET', 'SOCK_STREAM', { nonblock: 1 as never }), T('nonblock')],
    ['socket(cloexec "yes")', () => raw.socket('AF_INET', 'SOCK_STREAM', { cloexec: 'yes' as never }), T('cloexec')],
    ['listen(backlog -1)', () => raw.listen(good, -1), R('"backlog"')],
    ['listen(backlog NaN)', () => raw.listen(good, NaN), R('"backlog"')],
    ['listen(backlog 2**53)', () => raw.listen(good, 2 ** 53), R('"backlog"')],
    ['listen(backlog "8")', () => raw.listen(good, '8' as never), T('"backlog"')],
    ['accept(options a number)', () => raw.accept(good, 5 as never), T('"options"')],
    ['accept(timeoutMs -5)', () => raw.accept(good, { timeoutMs: -5 }), R('timeoutMs')],
    ['accept(timeoutMs NaN)', () => raw.accept(good, { timeoutMs: NaN }), R('timeoutMs')],
    ['accept(onInterrupt bad)', () => raw.accept(good, { onInterrupt: 'maybe' as never }), R('onInterrupt')],
    ['accept(nonblock "x")', () => raw.accept(good, { nonblock: 'x' as never }), T('nonblock')],
    ['send(data a number)', () => raw.send(good, 42 as never), T('"data"')],
    ['send(data null)', () => raw.send(good, null as never), T('"data"')],
    ['send(data an array)', () => raw.send(good, [1, 2, 3] as never), T('"data"')],
    ['send(data a Float64Array)', () => raw.send(good, new Float64Array(2) as never), T('"data"')],
    ['send(data an ArrayBuffer)', () => raw.send(good, new ArrayBuffer(8) as never), T('"data"')],
    ['send(data detached)', () => raw.send(good, detachedBuffer()), T(/"data".*detached/)],
    ['sendAll(data detached)', () => raw.sendAll(good, detachedBuffer()), T(/"data".*detached/)],
    ['send(flags -1)', () => raw.send(good, 'x', { flags: -1 }), R('flags')],
    ['send(flags "MSG_MORE")', () => raw.send(good, 'x', { flags: 'MSG_MORE' as never }), T('flags')],
    ['send(timeoutMs Infinity)', () => raw.send(good, 'x', { timeoutMs: Infinity }), R('timeoutMs')],
    ['sendAll(data undefined)', () => raw.sendAll(good, undefined as never), T('"data"')],
    ['recv(maxBytes 0)', () => raw.recv(good, 0), R('"maxBytes"')],
    ['recv(maxBytes -1)', () => raw.recv(good, -1), R('"maxBytes"')],
    ['recv(maxBytes NaN)', () => raw.recv(good, NaN), R('"maxBytes"')],
    ['recv(maxBytes Infinity)', () => raw.recv(good, Infinity), R('"maxBytes"')],
    ['recv(maxBytes 2**31)', () => raw.recv(good, 2 ** 31), R('"maxBytes"')],
    ['recv(maxBytes "16")', () => raw.recv(good, '16' as never), T('"maxBytes"')],
    ['recv(maxBytes missing)', () => (raw.recv as (fd: number) => Buffer)(good), T('"maxBytes"')],
    ['recv(flags 1.5)', () => raw.recv(good, 16, { flags: 1.5 }), R('flags')],
    ['shutdown(how unknown)', () => raw.shutdown(good, 'SHUT_SIDEWAYS' as never), R('"how"')],
    ['shutdown(how 7)', () => raw.shutdown(good, 7), R('"how"')],
    ['shutdown(how null)', () => raw.shutdown(good, null as never), T('"how"')],
    [
      'socketpair(AF_INET)',
      () => raw.socketpair('AF_INET'),
      P(/^socketpair (ENOTSUP|EOPNOTSUPP): operation not supported/),
    ],
    ['socketpair(bad domain)', () => raw.socketpair('AF_IPX' as never), R('"domain"')],
    ['socketpair(bad type)', () => raw.socketpair('AF_UNIX', -1), R('"type"')],
    ['socketpair(options null)', () => raw.socketpair('AF_UNIX', 'SOCK_STREAM', null as never), T('"options"')],
    ['pipe(options a string)', () => raw.pipe('cloexec' as never), T('"options"')],
    ['pipe(cloexec 1)', () => raw.pipe({ cloexec: 1 as never }), T('cloexec')],
    ['dup2(newFd NaN)', () => raw.dup2(good, NaN), R('"newFd"')],
    ['dup2(newFd -1)', () => raw.dup2(good, -1), R('"newFd"')],
    ['dup2(newFd 2**31)', () => raw.dup2(good, 2 ** 31), R('"newFd"')],
    ['dup2(newFd "5")', () => raw.dup2(good, '5' as never), T('"newFd"')],
    ['setNonBlocking(on "yes")', () => raw.setNonBlocking(good, 'yes' as never), T('"on"')],
    ['setNonBlocking(on missing)', () => (raw.setNonBlocking as (fd: number) => void)(good), T('"on"')],
    ['setCloseOnExec(on 1)', () => raw.setCloseOnExec(good, 1 as never), T('"on"')],
    ['setsockopt(unknown option)', () => raw.setsockopt(good, 'SO_MAGIC' as never, true as never), R('"option"')],
    ['setsockopt(option a number)', () => raw.setsockopt(good, 2 as never, true as never), T('"option"')],
    ['setsockopt(read-only option)', () => raw.setsockopt(good, 'SO_ERROR', 0), R(/"option".*read-only/)],
    ['setsockopt(bool option, 1)', () => raw.setsockopt(good, 'SO_REUSEADDR', 1 as never), T('"value"')],
    ['setsockopt(bool option, missing)', () => raw.setsockopt(good, 'SO_KEEPALIVE', undefined as never), T('"value"')],
    ['setsockopt(SO_RCVBUF, -1)', () => raw.setsockopt(good, 'SO_RCVBUF', -1), R('"value"')],
    ['setsockopt(SO_SNDBUF, 2**53)', () => raw.setsockopt(good, 'SO_SNDBUF', 2 ** 53), R('"value"')],
    ['setsockopt(SO_SNDBUF, "1k")', () => raw.setsockopt(good, 'SO_SNDBUF', '1k' as never), T('"value"')],
    ['setsockopt(SO_RCVTIMEO, NaN)', () => raw.setsockopt(good, 'SO_RCVTIMEO', NaN), R('"value"')],
    ['setsockopt(SO_RCVTIMEO, Infinity)', () => raw.setsockopt(good, 'SO_RCVTIMEO', Infinity), R('"value"')],
    ['setsockopt(SO_SNDTIMEO, -1)', () => raw.setsockopt(good, 'SO_SNDTIMEO', -1), R('"value"')],
    ['setsockopt(SO_SNDTIMEO, "1")', () => raw.setsockopt(good, 'SO_SNDTIMEO', '1' as never), T('"value"')],
    ['setsockopt(SO_LINGER, null)', () => raw.setsockopt(good, 'SO_LINGER', null as never), T('"value"')],
    ['setsockopt(SO_LINGER, true)', () => raw.setsockopt(good, 'SO_LINGER', true as never), T('"value"')],
    [
      'setsockopt(SO_LINGER, onoff 1)',
      () => raw.setsockopt(good, 'SO_LINGER', { onoff: 1 as never, linger: 0 }),
      T('"value.onoff"'),
    ],
    [
      'setsockopt(SO_LINGER, linger -1)',
      () => raw.setsockopt(good, 'SO_LINGER', { onoff: true, linger: -1 }),
      R('"value.linger"'),
    ],
    [
      'setsockopt(SO_LINGER, linger NaN)',
      () => raw.setsockopt(good, 'SO_LINGER', { onoff: true, linger: NaN }),
      R('"value.linger"'),
    ],
    [
      'setsockopt(TCP_NODELAY on a UNIX socket)',
      () => raw.setsockopt(good, 'TCP_NODELAY', true),
      P(/^setsockopt (ENOTSUP|EOPNOTSUPP): .* fd \d+$/),
    ],
    ['getsockopt(unknown option)', () => raw.getsockopt(good, 'SO_MAGIC' as never), R('"option"')],
    ['getsockopt(option null)', () => raw.getsockopt(good, null as never), T('"option"')],
    ['sleep(-1)', () => raw.sleep(-1), R('"seconds"')],
    ['sleep(NaN)', () => raw.sleep(NaN), R('"seconds"')],
    ['sleep(Infinity)', () => raw.sleep(Infinity), R('"seconds"')],
    ['sleep(1e12)', () => raw.sleep(1e12), R('"seconds"')],
    ['sleep("1")', () => raw.sleep('1' as never), T('"seconds"')],
    ['sleep(options a string)', () => raw.sleep(0, 'retry' as never), T('"options"')],
    ['sleep(onInterrupt bad)', () => raw.sleep(0, { onInterrupt: 'later' as never }), R('onInterrupt')],
  ];
  cases.push(...more);

  // Process and signal calls: every case must fail before the system call,
  // and the pid used is one that does not exist, so a missed check could
  // only ever produce ESRCH/ECHILD (and fail the test), never a real signal.
  const nobody = missingPid();
  const procCases: Case[] = [
    ['waitpid(NaN)', () => waitpid(NaN), R('"pid"')],
    ['waitpid(2**31)', () => waitpid(2 ** 31), R('"pid"')],
    ['waitpid(2**53)', () => waitpid(2 ** 53), R('"pid"')],
    ['waitpid(-(2**31))', () => waitpid(-(2 ** 31)), R('"pid"')],
    ['waitpid("1")', () => waitpid('1' as never), T('"pid"')],
    ['waitpid(options -1)', () => waitpid(nobody, -1), R('"options"')],
    ['waitpid(options 1 << 20)', () => waitpid(nobody, 1 << 20), R('"options"')],
    ['waitpid(onInterrupt bad)', () => waitpid(nobody, { onInterrupt: 'later' as never }), R('"options.onInterrupt"')],
    ['waitpid(options a string)', () => waitpid(nobody, 'WNOHANG' as never), T('"options"')],
    ['waitpid(nohang "yes")', () => waitpid(nobody, { nohang: 'yes' as never }), T('nohang')],
    ['kill(NaN)', () => kill(NaN, 0), R('"pid"')],
    ['kill(Infinity)', () => kill(Infinity, 0), R('"pid"')],
    ['kill(2**53)', () => kill(2 ** 53, 0), R('"pid"')],
    ['kill(null)', () => kill(null as never, 0), T('"pid"')],
    ['kill(signal unknown)', () => kill(nobody, 'SIGFOO'), R('"signal"')],
    ['kill(signal 65)', () => kill(nobody, 65), R('"signal"')],
    ['kill(signal -1)', () => kill(nobody, -1), R('"signal"')],
    ['kill(signal NaN)', () => kill(nobody, NaN), R('"signal"')],
    ['kill(signal an object)', () => kill(nobody, {} as never), T('"signal"')],
    ['setParentDeathSignal(unknown)', () => setParentDeathSignal('SIGFOO'), R('"signal"')],
    ['setParentDeathSignal(65)', () => setParentDeathSignal(65), R('"signal"')],
    ['setParentDeathSignal(-1)', () => setParentDeathSignal(-1), R('"signal"')],
    ['setParentDeathSignal(null)', () => setParentDeathSignal(null as never), T('"signal"')],
    ['signal(unknown)', () => signal('SIGFOO' as never, 'default'), R('"signal"')],
    ['signal(0)', () => signal(0, 'default'), R('"signal"')],
    ['signal(NaN)', () => signal(NaN, 'default'), R('"signal"')],
    ['signal(null)', () => signal(null as never, 'default'), T('"signal"')],
    ['signal(handler a number)', () => signal('SIGUSR2', 42 as never), T('"handler"')],
    ['signal(handler "catch")', () => signal('SIGUSR2', 'catch' as never), T('"handler"')],
    ['signal(SIGKILL)', () => signal('SIGKILL', () => {}), R('SIGKILL')],
    ['signal(SIGSTOP)', () => signal('SIGSTOP', 'ignore'), R('SIGSTOP')],
    ['sigaction(2**53)', () => sigaction(2 ** 53, 'default'), R('"signal"')],
    ['sigaction(options a string)', () => sigaction('SIGUSR2', 'default', 'restart' as never), T('"options"')],
    ['sigaction(restart "yes")', () => sigaction('SIGUSR2', 'default', { restart: 'yes' as never }), T('restart')],
    ['sigaction(handler null)', () => sigaction('SIGUSR2', null as never), T('"handler"')],
  ];
  cases.push(...procCases);

  test('every exported function of the raw layer is in the table', () => {
    const covered = new Set(cases.map(([name]) => name.slice(0, name.indexOf('('))));
    // The raw layer: the socket calls, socket options, and sleep.
    const functions = Object.entries({ ...syscalls, ...sockopts, sleep: raw.sleep })
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => k);
    // getpid() and getppid() take no arguments and cannot fail.
    const untestable = new Set(['getpid', 'getppid']);
    expect(functions.filter((f) => !covered.has(f) && !untestable.has(f))).toEqual([]);
    for (const f of ['waitpid', 'kill', 'setParentDeathSignal', 'signal', 'sigaction'])
      expect(covered.has(f)).toBe(true);
  });

  test('each bad call throws the expected class, naming the argument; nothing leaks; the process lives', () => {
    const before = fdCount();
    const failures: string[] = [];
    for (const [name, call, [cls, needle]] of cases) {
      let err: unknown;
      let returned: unknown;
      try {
        returned = call();
      } catch (e) {
        err = e;
      }
      if (err === undefined) {
        failures.push(`${name}: returned ${String(returned)} instead of throwing`);
        continue;
      }
      const e = err as Error;
      if (!(e instanceof cls))
        failures.push(`${name}: threw ${e?.constructor?.name} (${e?.message}), wanted ${cls.name}`);
      else if (!(typeof needle === 'string' ? e.message.includes(needle) : needle.test(e.message)))
        failures.push(`${name}: message ${JSON.stringify(e.message)} does not name ${String(needle)}`);
      // A closed fd is reported by the kernel; the error carries that fd.
      if (name.endsWith('(closed fd)') && (e as PosixError).fd !== closed)
        failures.push(`${name}: error.fd is ${(e as PosixError).fd}, wanted ${closed}`);
    }
    expect(failures).toEqual([]);
    expect(cases.length).toBeGreaterThan(300);
    // The good sockets still work: no bad call damaged them.
    expect(raw.send(good, 'still fine')).toBe(10);
    expect(raw.recv(peer, 64).toString()).toBe('still fine');
    expect(fdCount()).toBe(before);
    expect(() => process.kill(process.pid, 0)).not.toThrow();
  });

  test('edge values that are legal do the legal thing', () => {
    // Zero bytes: send(2) sends nothing and says so.
    expect(raw.send(good, Buffer.alloc(0))).toBe(0);
    expect(raw.send(good, new Uint8Array(0))).toBe(0);
    expect(raw.send(good, '')).toBe(0);
    // A view into a larger buffer sends only its own bytes.
    const big = Buffer.from('0123456789');
    expect(raw.send(good, big.subarray(3, 6))).toBe(3);
    expect(raw.recv(peer, 64).toString()).toBe('345');
    // sleep(0) returns at once.
    const t0 = Date.now();
    raw.sleep(0);
    expect(Date.now() - t0).toBeLessThan(500);
  });
});

test('the addon checks its arguments again and never crashes (subprocess)', async () => {
  const r = await runFixture('native-sweep', { timeoutMs: 60000 });
  expect(r.signal).toBeNull();
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as { checked: number; failures: string[]; unsetup: string };
  expect(out.failures).toEqual([]);
  expect(out.checked).toBeGreaterThan(300);
  // Loaded without the JavaScript layer, a failing call still throws an Error.
  expect(out.unsetup).toMatch(/^close failed: Bad file descriptor errno=9$/);
  expect(r.code).toBe(0);
});
