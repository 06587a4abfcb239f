/**
 * Every file or folder of this repository that the docs name exists. The
 * paths are read from the docs as written (README.md, docs/*.md,
 * examples/README.md, and the comments in lib/ and examples/), so a file
 * renamed without its docs fails here, naming the doc and the path.
 *
 * What counts as a path: a word starting with one of the top-level folders
 * below (`lib/socket.ts`, `test/fixtures/`), `dist/...` (the build output,
 * which must have a source: `dist/examples/x.js` needs `examples/x.ts`), and
 * the target of a relative Markdown link. A `.js` path whose `.ts` source
 * exists is the compiled program and counts as present. In the Markdown
 * docs a bare file name in backticks (`posix.h`, `binding.cc`,
 * `forking-server.ts`) names a file somewhere in the repository. Paths
 * outside the repository (`../shared/...`, and the reference tools' `.c`
 * files named bare) and web links are not checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root } from './helpers.ts';

const TOP = ['lib', 'native', 'examples', 'test', 'docs', 'bench', 'scripts', 'dist'];
/** A path-like word starting with a top-level folder, not inside a longer path (`../x/lib/a` is not `lib/a`). */
const PLAIN = new RegExp(`(?<![\\w./-])(?:\\./)?((?:${TOP.join('|')})/[\\w./*-]*)`, 'g');
/** A Markdown link or image target: `](target)`. */
const LINK = /\]\(([^)\s]+)\)/g;
/** A bare file name in backticks, of the kinds this repository is made of. */
const BARE = /`([\w.-]+\.(?:h|cc|ts|js|sh|md|gyp))`/g;
const SKIP = new Set(['node_modules', 'build', 'dist', '.git', '.ci']);

/** Every file name in the repository, any folder, to look bare names up in. */
function allNames(dir = root, out = new Set<string>()): Set<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP.has(e.name)) allNames(path.join(dir, e.name), out);
    } else out.add(e.name);
  }
  return out;
}
const names = allNames();

interface Reference {
  /** The path as written. */
  written: string;
  /** The path from the repository root, or a bare file name. */
  resolved: string;
  bare?: boolean;
}

/** The repository paths named in `text`, which lives in `docFile` (relative to the root). */
function references(text: string, docFile: string, markdown: boolean): Reference[] {
  const out: Reference[] = [];
  for (const m of text.matchAll(PLAIN)) {
    const written = m[1].replace(/[.,:;]+$/, '');
    out.push({ written, resolved: path.posix.normalize(written) });
  }
  if (markdown) {
    for (const m of text.matchAll(LINK)) {
      const target = m[1].replace(/#.*$/, '');
      if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // an anchor, or http:, mailto:
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(docFile), target));
      if (resolved.startsWith('../')) continue; // outside the repository
      out.push({ written: m[1], resolved });
    }
    for (const m of text.matchAll(BARE)) out.push({ written: m[1], resolved: m[1], bare: true });
  }
  return out;
}

/** Whether a referenced path exists (see the rules at the top). */
function exists(p: string): boolean {
  const full = (q: string) => path.join(root, q);
  if (p.includes('*')) {
    // A glob in prose (`native/*.cc`): its folder holds at least one match.
    const dir = path.posix.dirname(p);
    const re = new RegExp(`^${path.posix.basename(p).replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
    return fs.existsSync(full(dir)) && fs.readdirSync(full(dir)).some((f) => re.test(f));
  }
  if (fs.existsSync(full(p))) return true;
  let source = p;
  if (p === 'dist' || p === 'dist/') return true; // the build output as a whole
  if (p.startsWith('dist/')) source = p.slice('dist/'.length);
  if (source !== p && fs.existsSync(full(source))) return true; // a folder: dist/examples/
  const ts = source.replace(/\.(d\.ts|js|mjs|cjs)$/, '.ts');
  return ts !== source && fs.existsSync(full(ts));
}

/** Comments of a TypeScript file: what a reader sees as its docs. */
function comments(source: string): string {
  return [...source.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)].map((m) => m[0]).join('\n');
}

function filesUnder(dir: string, ext: string): string[] {
  if (!fs.existsSync(path.join(root, dir))) return [];
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
    .sort();
}

const markdownDocs = ['README.md', ...filesUnder('docs', '.md'), 'examples/README.md'];
const codeDocs = [...filesUnder('lib', '.ts'), ...filesUnder('examples', '.ts')];

function referencesIn(file: string): Reference[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const markdown = file.endsWith('.md');
  return references(markdown ? text : comments(text), file, markdown);
}

function missing(refs: Reference[]): string[] {
  return [...new Set(refs.filter((r) => !(r.bare ? names.has(r.resolved) : exists(r.resolved))).map((r) => r.written))];
}

describe('the path finder', () => {
  const sample = [
    'See `lib/errors.ts` and lib/no-such-file.ts, then [the tutorial](../docs/tutorial.md)',
    'or [gone](../examples/gone.ts#top), `test/fixtures/`, `native/posix/*.cc`, `native/*.nothing`,',
    'node dist/examples/forking-server.js, dist/examples/missing.js, ../shared/bench/x.c,',
    '[web](https://example.com/lib/x.ts) and docs/signals.md. Bare: `binding.cc`, `gone.h`, `loadgen.c`.',
  ].join('\n');

  test('finds plain paths, links relative to the doc, globs and build outputs', () => {
    expect(references(sample, 'docs/sample.md', true).map((r) => r.resolved)).toEqual([
      'lib/errors.ts',
      'lib/no-such-file.ts',
      'test/fixtures/',
      'native/posix/*.cc',
      'native/*.nothing',
      'dist/examples/forking-server.js',
      'dist/examples/missing.js',
      'docs/signals.md',
      'docs/tutorial.md',
      'examples/gone.ts',
      'binding.cc',
      'gone.h',
    ]);
  });

  test('reports exactly the ones that do not exist', () => {
    const refs = references(sample, 'docs/sample.md', true);
    expect(missing(refs)).toEqual([
      'lib/no-such-file.ts',
      'native/*.nothing',
      'dist/examples/missing.js',
      '../examples/gone.ts#top',
      'gone.h',
    ]);
  });
});

test('the docs and the lesson list are all scanned', () => {
  expect(markdownDocs).toEqual(expect.arrayContaining(['README.md', 'docs/tutorial.md', 'examples/README.md']));
  for (const doc of markdownDocs) expect(fs.existsSync(path.join(root, doc))).toBe(true);
  // These point into the repository: a scan that finds nothing there is broken.
  for (const doc of ['README.md', 'docs/tutorial.md', 'examples/README.md']) {
    expect(referencesIn(doc).length).toBeGreaterThan(5);
  }
});

test.each(markdownDocs)('every path %s names exists', (doc) => {
  expect(missing(referencesIn(doc))).toEqual([]);
});

test.each(codeDocs)('every path the comments of %s name exists', (file) => {
  expect(missing(referencesIn(file))).toEqual([]);
});
