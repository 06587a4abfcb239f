/**
 * The README's tour of the API is a program a reader will paste: it is taken
 * from README.md as written, type-checked against the package's declarations,
 * compiled, run as a server in a project that imports the package by name,
 * and talked to over loopback.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { askLine, freePort, killWatched, root, sleepMs, until, userProject, watch, zombiesOf } from './helpers';

let dir: string;

beforeAll(() => {
  dir = userProject('wtf-readme-');
});

afterEach(killWatched);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The first ```ts block after the "A short tour of the API" heading. */
function tourSource(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('## A short tour of the API');
  expect(at).toBeGreaterThan(0);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(m).not.toBeNull();
  return m![1];
}

test('the tour type-checks against the package as written', () => {
  const file = path.join(dir, 'tour-check.ts');
  fs.writeFileSync(file, tourSource());
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(problems).toEqual([]);
});

test('the tour serves connections, reaps its children, and survives the EINTR', async () => {
  const port = await freePort();
  const source = tourSource();
  expect(source).toContain('port: 9093');
  const js = ts.transpileModule(source.replace('port: 9093', `port: ${port}`), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = path.join(dir, 'tour.js');
  fs.writeFileSync(file, js);
  const server = watch(
    spawn(process.execPath, ['--single-threaded', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  // No banner in the tour: ask until it answers.
  let first: string | undefined;
  for (const end = Date.now() + 15000; first === undefined && Date.now() < end;) {
    first = await askLine(port, 'one').catch(() => undefined);
    if (first === undefined) await sleepMs(100);
  }
  expect(first).toBe('SERVED BY Node: one\n');
  // More connections after children have exited: each child's SIGCHLD has
  // interrupted accept(2), and the loop went on.
  for (const line of ['two', 'three', 'four']) {
    expect(await askLine(port, line)).toBe(`SERVED BY Node: ${line}\n`);
    await sleepMs(100);
  }
  await until('no zombie', () => zombiesOf(server.pid).length === 0);
  expect(server.err()).toBe('');
});
