/**
 * The README's tour of the API as a program: taken from README.md as written,
 * compiled for a port, run as a server and asked over loopback. Used by the
 * README test (a project linked to the repository) and the packaging test
 * (the installed tarball).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { askLine, root, sleepMs, until, watch, zombiesOf } from './helpers.ts';

/** The first ```ts block after the README's "A short tour of the API" heading. */
export function tourSource(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('## A short tour of the API');
  const m = at < 0 ? null : /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null) throw new Error('README.md has no ```ts block under "## A short tour of the API"');
  return m[1];
}

/** The tour compiled to JavaScript (CommonJS or an ES module) that listens on `port`, not 9093. */
export function compileTour(port: number, kind: 'cjs' | 'esm'): string {
  const source = tourSource();
  if (!source.includes('port: 9093')) throw new Error('the tour no longer listens on port 9093');
  const module = kind === 'cjs' ? ts.ModuleKind.CommonJS : ts.ModuleKind.ES2022;
  return ts.transpileModule(source.replace('port: 9093', `port: ${port}`), {
    compilerOptions: { module, target: ts.ScriptTarget.ES2022 },
  }).outputText;
}

/**
 * Runs a compiled tour (`file`, in the project `cwd`) as a server and asks
 * it for `lines` one connection each, after the first answer with a pause
 * so that children exit and their SIGCHLD interrupts accept(2). Returns the
 * answers, the zombies left once it settled, and what it wrote to stderr.
 * The caller's afterEach(killWatched) stops the server.
 */
export async function serveTour(
  cwd: string,
  file: string,
  port: number,
  lines: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ answers: (string | undefined)[]; zombies: number[]; stderr: string }> {
  // Plain node, as a user pastes and runs it: the tour's first line,
  // execSingleThreaded(), restarts node with --single-threaded.
  const server = watch(spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  // No banner in the tour: ask until it answers.
  const answers: (string | undefined)[] = [];
  for (const end = Date.now() + 15000; answers.length === 0 && Date.now() < end;) {
    const first = await askLine(port, lines[0]).catch(() => undefined);
    if (first !== undefined) answers.push(first);
    else await sleepMs(100);
  }
  for (const line of lines.slice(1)) {
    answers.push(await askLine(port, line).catch(() => undefined));
    await sleepMs(100);
  }
  await until('no zombie', () => zombiesOf(server.pid).length === 0).catch(() => undefined);
  return { answers, zombies: zombiesOf(server.pid), stderr: server.err() };
}
