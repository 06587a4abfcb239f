/**
 * `examples/forking-server.ts` runs as the README says: `node
 * examples/forking-server.ts` on a node that strips types (22.18 and
 * later), `npx tsx examples/forking-server.ts` on Node 20, and `npm start`.
 * Each answers a request, and SIGTERM or SIGINT to the pid the user sees
 * (npm's own, for npm start) stops it with its children: nothing is left,
 * nothing keeps the port. The nodes are this one and those listed in
 * WTF_EXTRA_NODES (.ci/run adds Node 22 and 24).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { askLine, childrenOf, exitOf, freePort, refused, root, until, watch, type Watched } from './helpers.ts';

const nodes = [process.execPath, ...(process.env.WTF_EXTRA_NODES ?? '').split(':').filter(Boolean)];

function versionOf(node: string): [number, number] {
  const v = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const [major, minor] = v.replace(/^v/, '').split('.').map(Number);
  return [major, minor];
}

/** Node strips types by default from 22.18 and 23.6 on. */
function stripsTypes([major, minor]: [number, number]): boolean {
  return major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
}

/** Every process below `pid`, deepest last. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(pid)) out.push(c, ...descendants(c));
  return out;
}

const started: number[] = [];
afterEach(() => {
  // Whatever a failed test left, by pid: the tree below each started process.
  for (const pid of started.splice(0)) {
    for (const p of [...descendants(pid).reverse(), pid]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Watched {
  const w = watch(spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  started.push(w.pid);
  return w;
}

/** Asks until the server answers, sends `signal` to `w`'s pid, and checks that nothing is left. */
async function serveThenStop(w: Watched, port: number, signal: NodeJS.Signals): Promise<void> {
  await until('the banner', () => w.out().includes(`Listening on:`), 60000).catch(() => {
    throw new Error(`no banner:\n${w.out()}\n${w.err()}`);
  });
  expect(await askLine(port, 'as written')).toBe('SERVED BY Node: as written\n');
  const tree = descendants(w.pid);
  expect(tree.length).toBeGreaterThan(0);
  process.kill(w.pid, signal);
  await exitOf(w, 30000);
  // Every process of the tree is gone (the last ones may take a moment).
  await until('the whole tree gone', () => tree.every((p) => !fs.existsSync(`/proc/${p}`)), 15000).catch(() => {
    throw new Error(`left behind: ${tree.filter((p) => fs.existsSync(`/proc/${p}`)).join(', ')}`);
  });
  expect(await refused(port)).toBe(true);
}

const example = path.join('examples', 'forking-server.ts');

for (const node of nodes) {
  const version = versionOf(node);
  if (stripsTypes(version)) {
    test(`node ${version.join('.')}: node examples/forking-server.ts serves, and SIGTERM leaves nothing`, async () => {
      const port = await freePort();
      const w = launch(node, [example, '--port', String(port)]);
      await serveThenStop(w, port, 'SIGTERM');
      expect(w.err()).not.toMatch(/Error|MODULE_TYPELESS_PACKAGE_JSON/);
    }, 120000);
  } else if (version[0] === 20) {
    test(`node ${version.join('.')}: npx tsx examples/forking-server.ts serves, and SIGTERM leaves nothing`, async () => {
      const port = await freePort();
      const env = { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH}` };
      const w = launch(path.join(root, 'node_modules', '.bin', 'tsx'), [example, '--port', String(port)], env);
      await serveThenStop(w, port, 'SIGTERM');
    }, 120000);
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`npm start serves, and ${signal} to npm's pid stops the server and its children`, async () => {
    const port = await freePort();
    const w = launch('npm', ['start', '--', '--port', String(port)]);
    await serveThenStop(w, port, signal);
  }, 120000);
}
