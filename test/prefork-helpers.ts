/**
 * Helpers of the prefork tests: start the command (`bin/what-the-fork.js
 * serve`) or a fixture as a master in a subprocess, follow its log, find
 * its workers, run the load generator, and kill everything by pid at the end.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as path from 'node:path';
import { fixturePath, isAlive, root } from './helpers.ts';

export { isAlive, procState } from './helpers.ts';

export const BIN = path.join(root, 'bin', 'what-the-fork.js');
export const app = (name: string): string => path.join(root, 'dist', 'test', 'fixtures', 'prefork-apps', `${name}.js`);

/** How a {@link Master} is started. */
export interface MasterOptions {
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
  /** The program and its first arguments; default node and the command. */
  command?: string[];
}

/**
 * A start() for one test file: every master it starts is killed by pid,
 * with its workers, after each test.
 */
export function useMasters(): (argv: string[], opts?: MasterOptions) => Master {
  const masters: Master[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.kill();
  });
  return (argv, opts) => {
    const m = new Master(argv, opts);
    masters.push(m);
    return m;
  };
}

/** A running master and its log. */
export class Master {
  readonly child: ChildProcess;
  out = '';
  private waiters: (() => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(argv: string[], opts: MasterOptions = {}) {
    const cmd = opts.command ?? [process.execPath, BIN];
    this.child = spawn(cmd[0], [...cmd.slice(1), ...argv], {
      env: { ...process.env, ...opts.env },
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    });
    const add = (d: Buffer): void => {
      this.out += d.toString();
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout?.on('data', add);
    this.child.stderr?.on('data', add);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Resolves with the match once the log has `count` lines matching `re`. */
  async waitFor(re: RegExp, count = 1, timeoutMs = 30000): Promise<RegExpMatchArray[]> {
    const end = Date.now() + timeoutMs;
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
    for (;;) {
      const all = [...this.out.matchAll(g)];
      if (all.length >= count) return all;
      if (Date.now() > end || this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`log has ${all.length} of ${count} lines matching ${re}:\n${this.out}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** The port of the first TCP listener in the start line. */
  async port(): Promise<number> {
    const [m] = await this.waitFor(/listening on [^ ]*:(\d+) \(fd/);
    return Number(m[1]);
  }

  /** Every worker pid the log named. */
  workerPids(): number[] {
    return [...this.out.matchAll(/\(pid (\d+)\) spawned/g)].map((m) => Number(m[1]));
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  /** SIGKILL to the master and to each of its workers still alive (by pid, checking the pid is ours). */
  async kill(): Promise<void> {
    const mine = this.workerPids().filter((p) => isAlive(p));
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    for (const p of mine) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

export async function until(cond: () => boolean, timeoutMs = 20000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface LoadCounts {
  started: number;
  ok: number;
  refused: number;
  lost: number;
  bad: number;
  other: number;
  lostErrors: Record<string, number>;
}

/** The load generator in a subprocess; `stop()` ends it and gives its counts. */
export class Load {
  private readonly child: ChildProcess;
  private out = '';
  private readonly result: Promise<LoadCounts>;

  constructor(port: number, args: string[] = []) {
    this.child = spawn(process.execPath, [fixturePath('prefork-load'), '--port', String(port), ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child.stdout?.on('data', (d) => (this.out += d));
    this.result = new Promise((resolve, reject) =>
      this.child.on('exit', () => {
        const last = this.out.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last) as LoadCounts);
        } catch {
          reject(new Error(`load generator said: ${this.out}`));
        }
      }),
    );
  }

  /** The number of good replies reported so far. */
  ok(): number {
    const all = [...this.out.matchAll(/progress (\d+)/g)];
    return all.length ? Number(all[all.length - 1][1]) : 0;
  }

  /** Waits until `n` more good replies than now were reported. */
  async more(n: number, timeoutMs = 30000): Promise<void> {
    const target = this.ok() + n;
    await until(() => this.ok() >= target, timeoutMs, `${n} more replies`);
  }

  stop(): Promise<LoadCounts> {
    this.child.stdin?.end();
    return this.result;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
