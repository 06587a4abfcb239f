#!/usr/bin/env bash
# The prefork master against node:cluster (bench/prefork-bench.ts), in one
# run: requests per second (wrk for http, ../shared/bench/loadgen.c for the
# line protocol), memory per worker with a ~50 MB app, and worker start time,
# for 1, 2 and 4 workers. Installs wrk from Debian when it is missing, and
# builds the load generator into a temporary directory.
#
# Usage: npm run bench:prefork          (builds the TypeScript first)
#        bash bench/prefork-bench.sh     (after a build)
# Environment: BENCH_WORKERS (1,2,4), BENCH_SECONDS (5, per run), BENCH_ROUNDS (3,
#              throughput rounds; the median ratio is reported),
#              BENCH_CONCURRENCY (16), BENCH_STARTS (5), BENCH_NODE_FLAGS (node
#              flags for both servers, e.g. --max-semi-space-size=2),
#              BENCH_SERVE_ARGS (more arguments for the serve command, e.g.
#              --max-semi-space-size 0),
#              BENCH_SHARED (the reference tools' directory; default
#              ../shared/bench beside the checkout, or two levels up)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${BENCH_SHARED:-}
for d in "$root/../shared/bench" "$root/../../shared/bench"; do
  [ -z "$shared" ] && [ -f "$d/loadgen.c" ] && shared=$(cd "$d" && pwd)
done
die() {
  echo "prefork-bench: $*" >&2
  exit 2
}
[ -n "$shared" ] && [ -f "$shared/loadgen.c" ] || die "the reference tools (loadgen.c, node_cluster_server.js) are missing; set BENCH_SHARED"
[ -f "$root/dist/bench/prefork-bench.js" ] || die "dist/bench/prefork-bench.js is missing: run 'npm run build' first (or use npm run bench:prefork)"
command -v cc >/dev/null || die "no C compiler (cc) to build the load generator"
if ! command -v wrk >/dev/null; then
  echo "prefork-bench: installing wrk (Debian package)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null || die "could not install wrk"
fi

tmp=$(mktemp -d /tmp/wtf-prefork-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -pthread -o "$tmp/loadgen" "$shared/loadgen.c" || die "could not build loadgen"
node "$root/dist/bench/prefork-bench.js" --loadgen "$tmp/loadgen" --shared "$shared"
