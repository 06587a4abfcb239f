/**
 * The native contract: lib/native.ts declares by hand every function the
 * addon exports and every constant name; the addon exports exactly those.
 * A function or constant added on one side only fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { CONSTANT_NAMES, native } from '../lib/native.ts';

// The method names of `interface Native` in lib/native.ts, read from the source.
function declaredFunctions(): string[] {
  const file = path.join(__dirname, '..', 'lib', 'native.ts');
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'Native') return;
    for (const m of node.members)
      if (ts.isMethodSignature(m) && m.name && ts.isIdentifier(m.name)) names.push(m.name.text);
  });
  return names.sort();
}

test('the addon exports exactly the functions lib/native.ts declares', () => {
  const exported = Object.entries(native)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k)
    .sort();
  expect(declaredFunctions().length).toBeGreaterThan(30);
  expect(exported).toEqual(declaredFunctions());
});

test('the addon exports exactly the constants CONSTANT_NAMES lists, each a number', () => {
  expect(Object.keys(native.constants).sort()).toEqual([...CONSTANT_NAMES].sort());
  for (const name of CONSTANT_NAMES) expect(Number.isInteger(native.constants[name])).toBe(true);
});

test("the package's own numbers are distinct within each group", () => {
  const C = native.constants;
  const groups = [
    [C.SOCKOPT_INT, C.SOCKOPT_TIMEVAL, C.SOCKOPT_LINGER],
    [C.DISPOSITION_PREVIOUS, C.DISPOSITION_IGNORE, C.DISPOSITION_HANDLE],
    [0, C.DRAIN_BEFORE_EXIT, C.DRAIN_EXIT],
    [C.O_NONBLOCK, C.FD_CLOEXEC],
  ];
  for (const g of groups) expect(new Set(g).size).toBe(g.length);
});

test("the addon's own argument errors carry Node's codes", () => {
  const thrown = (fn: () => unknown): { name?: string; code?: string } => {
    try {
      fn();
    } catch (e) {
      return e as { name?: string; code?: string };
    }
    return {};
  };
  expect(thrown(() => native.close('x' as unknown as number))).toMatchObject({
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  });
  expect(thrown(() => native.close(-1))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  expect(thrown(() => native.recv(0, 16, 0x20 /* MSG_TRUNC */, 0))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
});
