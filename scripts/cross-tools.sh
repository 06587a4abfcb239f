#!/usr/bin/env bash
# Installs what the linux-arm64 build and its smoke test need, from Debian's
# packages: the cross g++ (aarch64-linux-gnu) and qemu-user to run arm64
# programs here. Does nothing when both are there.
set -euo pipefail
need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
aarch64-linux-gnu-g++ --version | head -1
qemu-aarch64 --version | head -1
