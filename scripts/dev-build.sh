#!/usr/bin/env bash
# Rebuilds the addon and the TypeScript under one lock, so that several
# builds started at once (or a build during a test run) never interleave.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/what-the-fork-build.lock
flock 9
npx node-gyp build >/tmp/what-the-fork-gyp.log 2>&1 || { cat /tmp/what-the-fork-gyp.log; exit 1; }
npm run --silent build
