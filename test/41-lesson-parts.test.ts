/**
 * Each lesson in examples/ is a whole program, so the lessons repeat parts
 * of the forking server (examples/forking-server.ts) instead of importing
 * them. The repetition is for the reader; this keeps it honest: every part a
 * lesson shares with the forking server is the forking server's code,
 * comments aside (each lesson explains it in its own words). What a lesson
 * leaves out or adds on purpose is named here, with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { root } from './helpers.ts';

const FORKING = 'forking-server';
/** The lessons before the forking server, in order (examples/README.md). */
const LESSONS = ['1-iterative-server', '2-fork-per-connection', '3-zombies', '4-naive-sigchld', '5-reap-loop'];
/** The lessons that fork one child per connection, as the forking server does. */
const FORKING_LESSONS = LESSONS.slice(1);

const printer = ts.createPrinter({ removeComments: true });

function parse(name: string): ts.SourceFile {
  const file = path.join(root, 'examples', `${name}.ts`);
  return ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

/** The code of a node as the compiler prints it: no comments, one layout. */
function code(node: ts.Node, sf: ts.SourceFile): string {
  return printer.printNode(ts.EmitHint.Unspecified, node, sf);
}

/** Every node below `node` (depth first) that passes `test`. */
function findAll<T extends ts.Node>(node: ts.Node, test: (n: ts.Node) => n is T): T[] {
  const found: T[] = [];
  const visit = (n: ts.Node): void => {
    if (test(n)) found.push(n);
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}

/** The top-level function `name`, printed, or undefined if the file has none. */
function fn(sf: ts.SourceFile, name: string, edit?: (f: ts.FunctionDeclaration) => ts.Node): string | undefined {
  const f = sf.statements.find(
    (s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === name,
  );
  return f && code(edit ? edit(f) : f, sf);
}

/** Top-level `const` names and their initialisers, printed. */
function topLevelConsts(sf: ts.SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sf.statements) {
    if (!ts.isVariableStatement(s)) continue;
    for (const d of s.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer) out.set(d.name.text, code(d.initializer, sf));
    }
  }
  return out;
}

/** The options a program declares (`values` and `switches` of declareOptions), name → help text. */
function declaredOptions(sf: ts.SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  const calls = findAll(
    sf,
    (n): n is ts.CallExpression =>
      ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'declareOptions',
  );
  expect(calls).toHaveLength(1);
  const spec = calls[0].arguments[0];
  if (!ts.isObjectLiteralExpression(spec)) throw new Error(`${sf.fileName}: declareOptions takes an object literal`);
  for (const group of spec.properties) {
    if (!ts.isPropertyAssignment(group) || !ts.isObjectLiteralExpression(group.initializer)) continue;
    for (const p of group.initializer.properties) {
      if (ts.isPropertyAssignment(p)) out.set(p.name.getText(sf).replace(/^'|'$/g, ''), code(p.initializer, sf));
    }
  }
  return out;
}

/** The child's branch after fork(2) in main(): `if (pid === 0) { ... }`. */
function childBranch(sf: ts.SourceFile): string[] {
  const main = sf.statements.find((s) => ts.isFunctionDeclaration(s) && s.name?.text === 'main');
  if (!main) throw new Error(`${sf.fileName}: no main()`);
  return findAll(main, (n): n is ts.IfStatement => ts.isIfStatement(n) && n.expression.getText(sf) === 'pid === 0').map(
    (n) => code(n, sf),
  );
}

/** Every `x.readLine(...)` call, printed. */
function readLineCalls(sf: ts.SourceFile): string[] {
  return findAll(
    sf,
    (n): n is ts.CallExpression =>
      ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'readLine',
  ).map((n) => code(n, sf));
}

/** The function with the statements of its body for which `drop` is true left out. */
function without(drop: (s: ts.Statement) => boolean) {
  return (f: ts.FunctionDeclaration): ts.Node =>
    ts.factory.updateFunctionDeclaration(
      f,
      f.modifiers,
      f.asteriskToken,
      f.name,
      f.typeParameters,
      f.parameters,
      f.type,
      ts.factory.updateBlock(
        f.body!,
        f.body!.statements.filter((s) => !drop(s)),
      ),
    );
}

/** The function with every `if (<condition>) X` in it replaced by X. */
function unguarded(condition: string, sf: ts.SourceFile) {
  return (f: ts.FunctionDeclaration): ts.Node => {
    const result = ts.transform(f, [
      (context) => {
        const visit = (n: ts.Node): ts.Node =>
          ts.isIfStatement(n) && !n.elseStatement && n.expression.getText(sf) === condition
            ? ts.visitNode(n.thenStatement, visit)!
            : ts.visitEachChild(n, visit, context);
        return (root: ts.FunctionDeclaration) => ts.visitNode(root, visit) as ts.FunctionDeclaration;
      },
    ]);
    return result.transformed[0];
  };
}

const forking = parse(FORKING);

test('every lesson named in the test exists, and no other lesson does', () => {
  const numbered = fs
    .readdirSync(path.join(root, 'examples'))
    .filter((f) => /^\d+-.*\.ts$/.test(f))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort((a, b) => parseInt(a) - parseInt(b));
  expect(numbered).toEqual(LESSONS);
});

describe.each(FORKING_LESSONS)('%s', (lesson) => {
  const sf = parse(lesson);

  test("handleConnection is the forking server's, without its linger (lesson 6 adds the linger)", () => {
    const linger = (s: ts.Statement) => /\blingerSeconds\b/.test(code(s, forking));
    const expected = fn(forking, 'handleConnection', without(linger));
    expect(expected).toBeDefined();
    // The linger is one statement, and it is gone from what the lessons must match.
    expect(fn(forking, 'handleConnection')).not.toEqual(expected);
    expect(fn(sf, 'handleConnection')).toEqual(expected);
  });

  test("every option it shares with the forking server by name has the forking server's help text", () => {
    const theirs = declaredOptions(forking);
    const shared = [...declaredOptions(sf)].filter(([name]) => theirs.has(name));
    expect(shared.map(([name]) => name)).toEqual(expect.arrayContaining(['port', 'timeout']));
    for (const [name, help] of shared) expect(`--${name}: ${help}`).toBe(`--${name}: ${theirs.get(name)}`);
  });

  test("the child's branch after fork(2) is the forking server's", () => {
    const expected = childBranch(forking);
    expect(expected).toHaveLength(1);
    expect(childBranch(sf)).toEqual(expected);
  });
});

describe.each(LESSONS)('%s', (lesson) => {
  const sf = parse(lesson);

  test("every top-level const it shares with the forking server by name is the forking server's", () => {
    const theirs = topLevelConsts(forking);
    const shared = [...topLevelConsts(sf)].filter(([name]) => theirs.has(name));
    // Every lesson reads the port and bounds the line as the forking server does.
    expect(shared.map(([name]) => name)).toEqual(expect.arrayContaining(['port', 'MAX_LINE', 'timeoutSeconds']));
    for (const [name, init] of shared) expect(`${name} = ${init}`).toBe(`${name} = ${theirs.get(name)}`);
  });

  test("it reads a client's line as the forking server does: bounded in length and in time", () => {
    const expected = readLineCalls(forking);
    expect(expected).toHaveLength(1);
    expect(readLineCalls(sf)).toEqual(expected);
  });
});

test("5-reap-loop: handleChildren is the forking server's, its line per child behind --quiet", () => {
  const sf = parse('5-reap-loop');
  const expected = fn(forking, 'handleChildren');
  expect(expected).toBeDefined();
  const lesson = fn(sf, 'handleChildren', unguarded('!quiet', sf));
  expect(lesson).toEqual(expected);
  // The guard is really there (and nothing else differs).
  expect(fn(sf, 'handleChildren')).not.toEqual(expected);
});
