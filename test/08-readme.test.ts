/**
 * The README's tour of the API is a program a reader will paste: it is taken
 * from README.md as written, type-checked against the package's declarations,
 * compiled, run as a server in a project that imports the package by name,
 * and talked to over loopback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { freePort, killWatched, root, userProject } from './helpers.ts';
import { compileTour, serveTour, tourSource } from './tour.ts';

let dir: string;

beforeAll(() => {
  dir = userProject('wtf-readme-');
});

afterEach(killWatched);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

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
  const file = path.join(dir, 'tour.js');
  fs.writeFileSync(file, compileTour(port, 'cjs'));
  const r = await serveTour(dir, file, port, ['one', 'two', 'three', 'four']);
  // More connections after children have exited: each child's SIGCHLD has
  // interrupted accept(2), and the loop went on.
  expect(r.answers).toEqual(['one', 'two', 'three', 'four'].map((l) => `SERVED BY Node: ${l}\n`));
  expect(r.zombies).toEqual([]);
  expect(r.stderr).toBe('');
});
