#!/usr/bin/env bash
# Builds the prebuilt addons that the published tarball carries, with
# prebuildify, into prebuilds/linux-<arch>/what-the-fork.<libc>.node, where
# node-gyp-build finds them at install and at load time.
#
#   bash scripts/prebuild.sh             this machine's architecture
#   bash scripts/prebuild.sh x64 arm64   both; the one that is not this
#                                        machine's needs Debian's cross g++,
#                                        which scripts/cross-tools.sh installs
#   bash scripts/prebuild.sh --pack      what npm pack runs: this machine's,
#                                        and the other where its cross g++ is
#                                        here (a release packs on a machine
#                                        that has it, as CI does)
#
# prebuildify runs `node-gyp rebuild` and moves the result out of
# build/Release; it works on a copy of the build files in a temporary folder
# so that the development build in build/ stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
host="$(node -p process.arch)"
# node-gyp takes Node's headers from npm's nodedir setting (as npm install does).
nodedir="$(npm config get nodedir)"
[[ -d "$nodedir/include/node" ]] && export npm_config_nodedir="$nodedir"

# A prebuild newer than every source it is built from is kept: npm pack runs
# this each time (the packaging test packs once per Node version), and the
# binary does not depend on the node that runs it.
up_to_date() {
  local out
  out="$(ls "$root/prebuilds/linux-$1/"*.node 2>/dev/null | head -1)"
  [[ -n "$out" ]] && [[ -z "$(find native binding.gyp package.json -newer "$out" -print -quit)" ]]
}

prebuild() {
  local arch="$1" stage
  if up_to_date "$arch"; then
    echo "prebuild: $(ls "$root/prebuilds/linux-$arch/"*.node) is up to date"
    return 0
  fi
  stage="$(mktemp -d /tmp/wtf-prebuild-XXXXXX)"
  cp -r package.json binding.gyp native "$stage/"
  ln -s "$root/node_modules" "$stage/node_modules"
  # One N-API binary serves every Node version; build it against this node.
  local args=(--napi --strip --tag-libc --out "$root" --target "node@$(node -p process.versions.node)")
  local env=()
  if [[ "$arch" != "$host" ]]; then
    local triplet
    case "$arch" in
      arm64) triplet=aarch64-linux-gnu ;;
      *) echo "prebuild: no cross toolchain known for $arch" >&2; return 2 ;;
    esac
    if ! command -v "$triplet-g++" >/dev/null; then
      echo "prebuild: $triplet-g++ is missing; bash scripts/cross-tools.sh installs it" >&2
      return 2
    fi
    env=(CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar" PREBUILD_STRIP_BIN="$triplet-strip")
    args+=(--arch "$arch")
  fi
  if ! (cd "$stage" && env "${env[@]}" "$root/node_modules/.bin/prebuildify" "${args[@]}" --cwd "$stage") \
    >"$stage/prebuild.log" 2>&1; then
    cat "$stage/prebuild.log"
    rm -rf "$stage"
    return 1
  fi
  rm -rf "$stage"
  echo "prebuild: $(ls "$root/prebuilds/linux-$arch/"*.node)"
}

if [[ "${1:-}" == --pack ]]; then
  prebuild "$host"
  for arch in x64 arm64; do
    [[ "$arch" == "$host" ]] && continue
    if [[ "$arch" == arm64 ]] && ! command -v aarch64-linux-gnu-g++ >/dev/null; then
      echo "prebuild: no linux-arm64 prebuild (aarch64-linux-gnu-g++ is missing; scripts/cross-tools.sh)" >&2
      continue
    fi
    [[ "$arch" == x64 ]] && { echo "prebuild: no cross build for linux-x64 from $host" >&2; continue; }
    prebuild "$arch"
  done
else
  for arch in "${@:-$host}"; do prebuild "$arch"; done
fi
