#!/usr/bin/env bash
# Builds the prebuilt addon that the published tarball carries, with
# prebuildify, into prebuilds/<platform>-<arch>/node.napi.<libc>.node, where
# node-gyp-build finds it at install and at load time.
#
#   bash scripts/prebuild.sh          linux-x64 (this machine)
#   bash scripts/prebuild.sh arm64    linux-arm64, with Debian's cross g++
#                                     (g++-aarch64-linux-gnu)
#
# prebuildify runs `node-gyp rebuild` and moves the result out of
# build/Release; it works on a copy of the build files in a temporary folder
# so that the development build in build/ stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
arch="${1:-x64}"
stage="$(mktemp -d /tmp/wtf-prebuild-XXXXXX)"
trap 'rm -rf "$stage"' EXIT
cp -r package.json binding.gyp native "$stage/"
ln -s "$root/node_modules" "$stage/node_modules"
# One N-API binary serves every Node version; build it against this node.
args=(--napi --strip --tag-libc --out "$root" --target "node@$(node -p process.versions.node)")
if [[ "$arch" != "$(node -p process.arch)" ]]; then
  case "$arch" in
    arm64) triplet=aarch64-linux-gnu ;;
    *) echo "prebuild: no cross toolchain known for $arch" >&2; exit 2 ;;
  esac
  export CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar"
  export PREBUILD_STRIP_BIN="$triplet-strip"
  args+=(--arch "$arch")
fi
# node-gyp takes Node's headers from npm's nodedir setting (as npm install does).
nodedir="$(npm config get nodedir)"
[[ -d "$nodedir/include/node" ]] && export npm_config_nodedir="$nodedir"
(cd "$stage" && "$root/node_modules/.bin/prebuildify" "${args[@]}" --cwd "$stage") >"$stage.log" 2>&1 ||
  { cat "$stage.log"; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
ls "$root/prebuilds/linux-$arch/"
