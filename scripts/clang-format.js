// Runs the clang-format binary shipped in the clang-format npm package over
// every C++ file under native/, with --check (fail on any difference) or
// --write.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const files = fs
  .readdirSync(path.join(root, 'native'), { recursive: true })
  .filter((f) => /\.(cc|h|inc)$/.test(f))
  .map((f) => path.join('native', f))
  .sort();
const bin = require.resolve('clang-format/index.js');
const write = process.argv.includes('--write');
const args = write ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
const r = spawnSync(process.execPath, [bin, '--style=file', ...args], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
