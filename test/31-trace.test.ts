/**
 * The syscall trace: with WTF_TRACE=1 every call of the package is printed
 * strace-style to stderr, with the pid of the process that made it (a
 * forked child's lines carry the child's pid); failures show errno name and
 * message; setTrace() switches it at run time; off, nothing is printed.
 */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { close, isTracing, setTrace, socket } from '../lib/index.ts';
import { freePort, killWatched, root, sleepMs, startFixture, until, watch, type Watched } from './helpers.ts';

afterEach(() => {
  setTrace(false);
  killWatched();
});

function startServer(port: number, env: NodeJS.ProcessEnv): Watched {
  const file = path.join(root, 'dist', 'examples', 'forking-server.js');
  const { WTF_TRACE: _, ...rest } = process.env;
  return watch(
    spawn(process.execPath, ['--single-threaded', file, '--port', String(port), '--linger', '0'], {
      env: { ...rest, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Sends one line; resolves with the reply and the client's own port. */
function ask(port: number, line: string): Promise<{ reply: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let localPort = -1;
    s.setTimeout(15000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => {
      localPort = s.localPort ?? -1;
      s.write(line + '\n');
    });
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve({ reply: data, localPort }));
    s.on('error', reject);
  });
}

describe('WTF_TRACE=1 on the forking server', () => {
  test('accept, fork, the child’s recv/send/close under its own pid, the reap', async () => {
    const port = await freePort();
    const server = startServer(port, { WTF_TRACE: '1' });
    await until('the banner', () => server.out().includes(`Listening on: 127.0.0.1:${port}`));

    const { reply, localPort } = await ask(port, 'hello');
    expect(reply).toBe('SERVED BY Node: hello\n');
    await until('the reap', () => /waitpid\(-1, 1\) = \d+ \(exited 0\)/.test(server.err()));
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });

    const lines = server.err().trimEnd().split('\n');
    const P = server.pid;
    // Every line is strace-shaped: [pid N] name(args) = result
    for (const l of lines) expect(l).toMatch(/^\[pid \d+\] [a-z_0-9]+\(.*\) = (-1 E[A-Z0-9]+ \(.+\)|.+)$/);

    const sock = lines.find((l) => l.startsWith(`[pid ${P}] socket(`));
    expect(sock).toMatch(new RegExp(`^\\[pid ${P}\\] socket\\(AF_INET, SOCK_STREAM\\) = \\d+$`));
    const lfd = Number(/= (\d+)$/.exec(sock ?? '')?.[1]);
    expect(lines).toContain(`[pid ${P}] bind(${lfd}, 127.0.0.1:${port}) = 0`);

    // The accept that the client's connection ended names the client's port.
    const acceptLine = lines.find((l) => l.endsWith(`(127.0.0.1:${localPort})`));
    expect(acceptLine).toMatch(
      new RegExp(`^\\[pid ${P}\\] accept\\(${lfd}\\) = \\d+ \\(127\\.0\\.0\\.1:${localPort}\\)$`),
    );
    const cfd = Number(/= (\d+) /.exec(acceptLine ?? '')?.[1]);

    const forkLine = lines.find((l) => l.startsWith(`[pid ${P}] fork() = `) && !l.endsWith('= 0'));
    const C = Number(/= (\d+)$/.exec(forkLine ?? '')?.[1]);
    expect(C).toBeGreaterThan(0);
    expect(C).not.toBe(P);

    const reply22 = Buffer.byteLength('SERVED BY Node: hello\n');
    const child = lines.filter((l) => l.startsWith(`[pid ${C}] `));
    // In the child: fork returned 0, it closed the listener, read the line,
    // sent the reply, closed the connection.
    expect(lines).toContain(`[pid ${C}] fork() = 0`);
    expect(child).toEqual(
      expect.arrayContaining([
        `[pid ${C}] close(${lfd}) = 0`,
        expect.stringMatching(new RegExp(`^\\[pid ${C}\\] recv\\(${cfd}, \\d+\\) = 6$`)),
        `[pid ${C}] send(${cfd}, ${reply22} bytes) = ${reply22}`,
        `[pid ${C}] close(${cfd}) = 0`,
      ]),
    );
    // The child's own calls never appear under the parent's pid.
    expect(lines.filter((l) => l.startsWith(`[pid ${P}] send(`))).toEqual([]);
    // In the parent: its copy of the client fd closed, the child reaped.
    expect(lines).toContain(`[pid ${P}] close(${cfd}) = 0`);
    expect(lines).toContain(`[pid ${P}] waitpid(-1, 1) = ${C} (exited 0)`);
    // The order a reader expects: accept, then fork, then the child's send.
    const at = (s: string): number => lines.indexOf(s);
    expect(at(acceptLine ?? '')).toBeLessThan(at(forkLine ?? ''));
    expect(at(forkLine ?? '')).toBeLessThan(at(`[pid ${C}] send(${cfd}, ${reply22} bytes) = ${reply22}`));
  });

  test('off by default: the same run prints nothing on stderr', async () => {
    const port = await freePort();
    const server = startServer(port, {});
    await until('the banner', () => server.out().includes(`Listening on: 127.0.0.1:${port}`));
    expect((await ask(port, 'quiet')).reply).toBe('SERVED BY Node: quiet\n');
    await until('the reap', () => server.out().includes('is shutting down'));
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.err()).toBe('');
  });
});

describe('a failure in the trace', () => {
  /** Starts the fixture, waits until it blocks, sends SIGUSR1 until accept fails with EINTR. */
  async function provokeEintr(
    env: NodeJS.ProcessEnv,
  ): Promise<{ out: string; err: string; listener: number; pid: number }> {
    const f = watch(startFixture('trace-eintr', { env }));
    await until('the fixture to report its listener', () => f.out().includes('"listener"'));
    const { listener } = JSON.parse(f.out().split('\n')[0]) as { listener: number };
    // A signal that lands before accept blocks is just handled; keep sending
    // (bounded) until one lands inside the wait.
    for (let i = 0; i < 50 && !f.out().includes('"eintr"'); i++) {
      process.kill(f.pid, 'SIGUSR1');
      await sleepMs(100);
    }
    expect(await f.exited).toEqual({ code: 0, signal: null });
    expect(f.out()).toContain('"eintr":true');
    return { out: f.out(), err: f.err(), listener, pid: f.pid };
  }

  test('accept interrupted by a handled SIGUSR1 prints = -1 EINTR (Interrupted system call)', async () => {
    const r = await provokeEintr({ WTF_TRACE: '1' });
    expect(r.err.split('\n')).toContain(`[pid ${r.pid}] accept(${r.listener}) = -1 EINTR (Interrupted system call)`);
    expect(r.err).toContain(`[pid ${r.pid}] sigaction(SIGUSR1, `);
  });

  test('without WTF_TRACE the same run prints nothing', async () => {
    const r = await provokeEintr({});
    expect(r.err).toBe('');
  });
});

describe('setTrace at run time', () => {
  test('on with a writer, off again; failures traced too', () => {
    // Off by default (the jest run has no WTF_TRACE).
    expect(process.env.WTF_TRACE ?? '').toBe('');
    expect(isTracing()).toBe(false);
    const lines: string[] = [];
    const fd = socket('AF_INET', 'SOCK_STREAM');
    setTrace(true, (l) => lines.push(l));
    expect(isTracing()).toBe(true);
    const fd2 = socket('AF_INET', 'SOCK_DGRAM');
    close(fd2);
    // An fd far above anything open (closing fd2 twice could hit an fd that
    // another thread of this process opened in between).
    const unused = 1_000_000;
    expect(() => close(unused)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    setTrace(false);
    expect(isTracing()).toBe(false);
    close(fd);
    expect(lines).toEqual([
      `[pid ${process.pid}] socket(AF_INET, SOCK_DGRAM) = ${fd2}`,
      `[pid ${process.pid}] close(${fd2}) = 0`,
      `[pid ${process.pid}] close(${unused}) = -1 EBADF (Bad file descriptor)`,
    ]);
  });

  test('bad arguments are TypeErrors', () => {
    expect(() => setTrace('yes' as unknown as boolean)).toThrow(TypeError);
    expect(() => setTrace(true, 'stderr' as unknown as (l: string) => void)).toThrow(TypeError);
    expect(isTracing()).toBe(false);
  });
});
