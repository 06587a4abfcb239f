/**
 * Each lesson in examples/ is a whole program, so the lessons repeat parts
 * of the forking server (examples/forking-server.ts) instead of importing
 * them. The repetition is for the reader; this keeps it honest: every part a
 * lesson shares with the forking server is the forking server's code,
 * comments aside (each lesson explains it in its own words). What a lesson
 * leaves out or adds on purpose is named here, with the reason: the
 * forking server's care for a server that people run (the linger, the death
 * signal, the cap on children, SIGINT ignored in children for its graceful
 * stop) is lesson 6's step, not the lessons'. What every lesson has as the
 * forking server has it: the settings and help texts it shares by name, the
 * line read as bytes and echoed exactly; and every lesson that forks also
 * serves a connection, runs its child and ignores SIGUSR1 as the forking
 * server does.
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

/** The top-level function `name`, or undefined if the file has none. */
function fnNode(sf: ts.SourceFile, name: string): ts.FunctionDeclaration | undefined {
  return sf.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === name);
}

/** The top-level function `name`, printed, or undefined if the file has none. */
function fn(sf: ts.SourceFile, name: string): string | undefined {
  const f = fnNode(sf, name);
  return f && code(f, sf);
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

/**
 * The child's branch after fork(2), wherever it is: the `if (pid === 0) { ... }`
 * that ends the child with _exit (not the reap loop's `if (pid === 0) return`).
 */
function childBranches(sf: ts.SourceFile): ts.IfStatement[] {
  return findAll(
    sf,
    (n): n is ts.IfStatement =>
      ts.isIfStatement(n) &&
      n.expression.getText(sf) === 'pid === 0' &&
      ts.isBlock(n.thenStatement) &&
      calls(n.thenStatement, sf, '_exit').length > 0,
  );
}

/** Every call below `node` whose callee is written `callee` (`fork`, `client.send`), as nodes. */
function calls(node: ts.Node, sf: ts.SourceFile, callee: string): ts.CallExpression[] {
  return findAll(node, (n): n is ts.CallExpression => ts.isCallExpression(n) && n.expression.getText(sf) === callee);
}

/** Every call to a method `name` (`x.readLine(...)`, `y.readLineBytes(...)`), printed. */
function methodCalls(sf: ts.SourceFile, name: string): string[] {
  return findAll(
    sf,
    (n): n is ts.CallExpression =>
      ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === name,
  ).map((n) => code(n, sf));
}

/** The replies: every `.send(...)` call that sends PREFIX, printed. */
function replies(sf: ts.SourceFile): string[] {
  return findAll(
    sf,
    (n): n is ts.CallExpression =>
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === 'send' &&
      n.arguments.some((a) => /\bPREFIX\b/.test(a.getText(sf))),
  ).map((n) => code(n, sf));
}

/** The `signal(..., 'ignore')` statements of main(), printed. */
function ignoredInParent(sf: ts.SourceFile): string[] {
  const main = fnNode(sf, 'main');
  if (!main) throw new Error(`${sf.fileName}: no main()`);
  return calls(main, sf, 'signal')
    .filter((c) => c.arguments[1] !== undefined && c.arguments[1].getText(sf) === "'ignore'")
    .map((c) => code(c, sf));
}

/**
 * `node` with `replace` asked about every node below it, from the top: what
 * it returns takes the node's place (undefined keeps the node), and the
 * children of either are asked in turn.
 */
function rewrite(node: ts.Node, replace: (n: ts.Node) => ts.Node | undefined): ts.Node {
  const result = ts.transform(node, [
    (context) => {
      const visit = (n: ts.Node): ts.Node => ts.visitEachChild(replace(n) ?? n, visit, context);
      return (top: ts.Node) => ts.visitNode(top, visit)!;
    },
  ]);
  return result.transformed[0];
}

/**
 * `node` printed with every statement for which `drop` is true left out, at
 * any depth; `dropped` says how many went, so a test can insist on exactly
 * the ones it means.
 */
function without(node: ts.Node, sf: ts.SourceFile, drop: (s: ts.Statement) => boolean): Edited {
  let dropped = 0;
  const kept = (s: ts.Statement): boolean => (drop(s) ? (dropped++, false) : true);
  const edited = rewrite(node, (n) =>
    ts.isBlock(n) ? ts.factory.updateBlock(n, n.statements.filter(kept)) : undefined,
  );
  return { code: code(edited, sf), dropped };
}

/** `node` printed with the string literal `text` left out of every array literal in it. */
function withoutElement(node: ts.Node, sf: ts.SourceFile, text: string): Edited {
  let dropped = 0;
  const kept = (e: ts.Expression): boolean => (ts.isStringLiteral(e) && e.text === text ? (dropped++, false) : true);
  const edited = rewrite(node, (n) =>
    ts.isArrayLiteralExpression(n) ? ts.factory.updateArrayLiteralExpression(n, n.elements.filter(kept)) : undefined,
  );
  return { code: code(edited, sf), dropped };
}

/** What {@link without} and {@link withoutElement} return. */
interface Edited {
  code: string;
  dropped: number;
}

/** A statement that only calls `callee`: `dieWithParent(parentPid);`. */
const callStatement = (callee: string, sf: ts.SourceFile) => (s: ts.Statement) =>
  ts.isExpressionStatement(s) && ts.isCallExpression(s.expression) && s.expression.expression.getText(sf) === callee;

/** `f` printed with every `if (<condition>) X` in it replaced by X. */
function unguarded(f: ts.Node, sf: ts.SourceFile, condition: string): string {
  const edited = rewrite(f, (n) =>
    ts.isIfStatement(n) && !n.elseStatement && n.expression.getText(sf) === condition ? n.thenStatement : undefined,
  );
  return code(edited, sf);
}

/** The text of the `about` given to declareOptions, as written (a string or a template). */
function about(sf: ts.SourceFile): ts.Expression {
  const [call] = calls(sf, sf, 'declareOptions');
  const spec = call.arguments[0] as ts.ObjectLiteralExpression;
  const p = spec.properties.find(
    (q): q is ts.PropertyAssignment => ts.isPropertyAssignment(q) && q.name.getText(sf) === 'about',
  );
  if (!p) throw new Error(`${sf.fileName}: no about`);
  return p.initializer;
}

/** The names a file imports from `module`. */
function importedFrom(sf: ts.SourceFile, module: string): string[] {
  return sf.statements
    .filter(
      (s): s is ts.ImportDeclaration =>
        ts.isImportDeclaration(s) && (s.moduleSpecifier as ts.StringLiteral).text === module,
    )
    .flatMap((s) => {
      const b = s.importClause?.namedBindings;
      return b && ts.isNamedImports(b) ? b.elements.map((e) => e.name.text) : [];
    });
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

describe.each(LESSONS)('%s', (lesson) => {
  const sf = parse(lesson);

  test("every top-level const it shares with the forking server by name is the forking server's", () => {
    const theirs = topLevelConsts(forking);
    const shared = [...topLevelConsts(sf)].filter(([name]) => theirs.has(name));
    // Every lesson reads the port, bounds the line and builds its reply as the forking server does.
    expect(shared.map(([name]) => name)).toEqual(
      expect.arrayContaining(['port', 'MAX_LINE', 'timeoutSeconds', 'PREFIX', 'NEWLINE']),
    );
    for (const [name, init] of shared) expect(`${name} = ${init}`).toBe(`${name} = ${theirs.get(name)}`);
  });

  test("every option it shares with the forking server by name has the forking server's help text", () => {
    const theirs = declaredOptions(forking);
    const shared = [...declaredOptions(sf)].filter(([name]) => theirs.has(name));
    expect(shared.map(([name]) => name)).toEqual(expect.arrayContaining(['port', 'timeout']));
    for (const [name, help] of shared) expect(`--${name}: ${help}`).toBe(`--${name}: ${theirs.get(name)}`);
  });

  test('it reads a line as bytes, bounded in length and time, and echoes exactly those bytes, as the forking server does', () => {
    const read = methodCalls(forking, 'readLineBytes');
    const reply = replies(forking);
    expect(read).toHaveLength(1);
    expect(reply).toHaveLength(1);
    expect(methodCalls(sf, 'readLineBytes')).toEqual(read);
    expect(replies(sf)).toEqual(reply);
    // No line read as text anywhere: that would echo U+FFFD for bytes that are not UTF-8.
    expect(methodCalls(sf, 'readLine')).toEqual([]);
  });
});

describe.each(FORKING_LESSONS)('%s', (lesson) => {
  const sf = parse(lesson);

  test("handleConnection is the forking server's, without its linger (lesson 6 adds the linger)", () => {
    const f = fnNode(forking, 'handleConnection');
    expect(f).toBeDefined();
    // The linger: the statement, and the parameter that gives it (the
    // server's rehearsal of a child's work passes 0).
    const param = f!.parameters.filter((p) => ts.isIdentifier(p.name) && p.name.text === 'linger');
    expect(param).toHaveLength(1);
    const plain = ts.factory.updateFunctionDeclaration(
      f!,
      f!.modifiers,
      f!.asteriskToken,
      f!.name,
      f!.typeParameters,
      f!.parameters.filter((p) => !param.includes(p)),
      f!.type,
      f!.body,
    );
    const linger = (s: ts.Statement) => ts.isIfStatement(s) && /\blinger\b/.test(s.expression.getText(forking));
    const expected = without(plain, forking, linger);
    expect(expected.dropped).toBe(1);
    expect(fn(sf, 'handleConnection')).toEqual(expected.code);
  });

  test("the child's branch after fork(2) is the forking server's, without dieWithParent (lesson 6's care)", () => {
    const [theirs, ...more] = childBranches(forking);
    expect(theirs).toBeDefined();
    expect(more).toEqual([]);
    const expected = without(theirs, forking, callStatement('dieWithParent', forking));
    expect(expected.dropped).toBe(1);
    expect(childBranches(sf).map((b) => code(b, sf))).toEqual([expected.code]);
  });

  test("SIGUSR1 is ignored as in the forking server, in the parent and through fork in the child (SIGINT is not: it serves lesson 6's graceful stop)", () => {
    const parent = ignoredInParent(forking);
    expect(parent).toEqual(["signal('SIGUSR1', 'ignore')"]);
    expect(ignoredInParent(sf)).toEqual(parent);
    const [theirs, ...more] = calls(forking, forking, 'fork');
    expect(theirs).toBeDefined();
    expect(more).toEqual([]);
    const expected = withoutElement(theirs, forking, 'SIGINT');
    expect(expected.dropped).toBe(1);
    expect(calls(sf, sf, 'fork').map((c) => code(c, sf))).toEqual([expected.code]);
  });

  test("--help says so as the forking server does, in the words of server-care.ts (without 'stop gracefully', which only lessons 6 and 7 do)", () => {
    // The forking server's about ends with a line from server-care.ts: NO_DEBUGGER, which is SIGUSR1_IGNORED and more.
    const theirs = about(forking);
    expect(ts.isTemplateExpression(theirs) && theirs.templateSpans.at(-1)!.expression.getText(forking)).toBe(
      'NO_DEBUGGER',
    );
    expect(importedFrom(forking, './tools/server-care.ts')).toContain('NO_DEBUGGER');
    const care = parse('tools/server-care');
    const noDebugger = topLevelConsts(care).get('NO_DEBUGGER');
    expect(noDebugger).toMatch(/^`\$\{SIGUSR1_IGNORED\} /);
    // The lesson's about ends with a line of its own: SIGUSR1_IGNORED, from the same file.
    const mine = about(sf);
    expect(ts.isTemplateExpression(mine)).toBe(true);
    const last = (mine as ts.TemplateExpression).templateSpans.at(-1)!;
    expect(last.expression.getText(sf)).toBe('SIGUSR1_IGNORED');
    expect(last.literal.text).toBe('');
    const before =
      (mine as ts.TemplateExpression).templateSpans.at(-2)?.literal.text ?? (mine as ts.TemplateExpression).head.text;
    expect(before.endsWith('\n')).toBe(true);
    expect(importedFrom(sf, './tools/server-care.ts')).toEqual(['SIGUSR1_IGNORED']);
  });
});

test("5-reap-loop: handleChildren is the forking server's, its line per child behind --quiet, without the bookkeeping for lesson 6's cap", () => {
  const sf = parse('5-reap-loop');
  const f = fnNode(forking, 'handleChildren');
  expect(f).toBeDefined();
  const expected = without(f!, forking, callStatement('children.delete', forking));
  expect(expected.dropped).toBe(1);
  expect(unguarded(fnNode(sf, 'handleChildren')!, sf, '!quiet')).toEqual(expected.code);
  // The guard is really there (and nothing else differs).
  expect(fn(sf, 'handleChildren')).not.toEqual(expected.code);
});
