#!/usr/bin/env bash
# The servers of examples/ against the C reference, in one run, as ratios.
#
#   (a) examples/forking-server.js --linger 0   vs  c_fork_server (fork per connection)
#       and vs py_fork_server.py (the lsbaws design: Python, fork per connection)
#   (b) examples/prefork-server.js --workers 2  vs  c_fork_server with PREFORK=2
#
# With BENCH_BASELINE=<dir>, a directory holding another build of this
# package (its dist/ and build/, e.g. copied before a change), that build's
# forking and prefork servers run in the same rounds too, and the ratios new/baseline are
# printed: a change compared with what came before, on one machine, in one run.
#
# The load generator and the C server are the neutral tools in ../shared/bench
# (beside this checkout), built here into a temporary directory with cc.
# Every run: 16 concurrent clients (closed loop: connect, send a line, read
# the reply to EOF, check it), a bounded number of connections and a time
# limit. Rounds alternate the order of target and reference, so a change in
# the machine's background load hits both. For each run it prints the rate
# and the CPU the server spent per connection (parent and children, from
# /proc/<pid>/stat), and at the end the median ratio target/C per pair.
#
# Usage: npm run bench:server            (builds the TypeScript first)
#        bash bench/server-bench.sh       (after a build)
# Environment: BENCH_ROUNDS (3), BENCH_CONNECTIONS (2000), BENCH_BASELINE (none),
#              BENCH_SHARED (the reference tools; ../shared/bench beside the checkout),
#              BENCH_PREFORK_CONNECTIONS (30000), BENCH_SECONDS (60, per run),
#              BENCH_CONCURRENCY (16), BENCH_ONLY (fork|prefork: one pair only)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${BENCH_SHARED:-"$root/../shared/bench"}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-2000}
pconns=${BENCH_PREFORK_CONNECTIONS:-30000}
secs=${BENCH_SECONDS:-60}
conc=${BENCH_CONCURRENCY:-16}
only=${BENCH_ONLY:-}
baseline=${BENCH_BASELINE:-}
node=${NODE:-node}

die() {
  echo "server-bench: $*" >&2
  exit 2
}

[ -f "$shared/loadgen.c" ] && [ -f "$shared/c_fork_server.c" ] ||
  die "the reference tools are missing: expected $shared/loadgen.c and $shared/c_fork_server.c (a 'shared' directory beside the checkout)"
for f in forking-server prefork-server; do
  [ -f "$root/dist/examples/$f.js" ] || die "dist/examples/$f.js is missing: run 'npm run build' first (or use npm run bench:server)"
done
[ -f "$shared/py_fork_server.py" ] || die "the Python reference server is missing: expected $shared/py_fork_server.py"
command -v python3 >/dev/null || die "python3 is needed for the Python reference server"
[ -z "$baseline" ] || [ -f "$baseline/dist/examples/forking-server.js" ] ||
  die "BENCH_BASELINE=$baseline holds no dist/examples/forking-server.js"
command -v cc >/dev/null || die "no C compiler (cc) to build the reference tools"
command -v setsid >/dev/null || die "setsid (util-linux) is needed to stop the C prefork server's workers"

tmp=$(mktemp -d /tmp/wtf-server-bench.XXXXXX)
current=""
cleanup() {
  [ -n "$current" ] && stop "$current" c
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -pthread -o "$tmp/loadgen" "$shared/loadgen.c" || die "could not build loadgen"
cc -O2 -o "$tmp/c_fork_server" "$shared/c_fork_server.c" || die "could not build c_fork_server"

hz=$(getconf CLK_TCK)

free_port() {
  "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Fields of /proc/<pid>/stat after the command name: $12 utime, $13 stime,
# $14 cutime, $15 cstime (clock ticks).
cpu_of() { # pid -> "own children" in ticks (children: reaped ones + live ones)
  local pid=$1 own=0 kids=0 c
  read -r own kids < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12+$13, $14+$15}')
  for c in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    kids=$((kids + $(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12+$13}' || echo 0)))
  done
  echo "${own:-0} ${kids:-0}"
}

# Stops a server started by run(). The Node servers stop their own workers
# on SIGTERM and exit 0. The C server does not handle SIGTERM, so its
# preforked workers are stopped first, while their parent is alive to reap
# them (killed after it, they would be left to init as zombies).
stop() {
  local pid=$1 mode=${2:-node} c
  if [ "$mode" = c ]; then
    for c in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -TERM "$c" 2>/dev/null; done
    for _ in $(seq 20); do [ -z "$(ps -o pid= --ppid "$pid" 2>/dev/null)" ] && break; sleep 0.05; done
  fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  current=""
}

# run NAME PREFIX CONNS CMD... : starts the server (in a process group of its
# own), waits until one real request succeeds, runs the load, sets
# rate/errors, and prints a readable line.
rate=0 errors=0
run() {
  local name=$1 prefix=$2 n=$3 port pid res before after
  shift 3
  port=$(free_port)
  setsid "$@" --port "$port" >"$tmp/$name.log" 2>&1 &
  pid=$!
  current=$pid
  local up=0
  for _ in $(seq 100); do
    if "$tmp/loadgen" -p "$port" -c 1 -n 1 -t 5 -x "$prefix" >/dev/null 2>&1; then
      up=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$up" != 1 ]; then
    echo "server-bench: $name did not come up on port $port:" >&2
    cat "$tmp/$name.log" >&2
    stop "$pid" "${name%%-*}"
    rate=0 errors=1
    return
  fi
  sleep 0.3
  before=$(cpu_of "$pid")
  res=$("$tmp/loadgen" -p "$port" -c "$conc" -n "$n" -t "$secs" -x "$prefix")
  sleep 0.3 # let the last children exit and be reaped
  after=$(cpu_of "$pid")
  stop "$pid" "${name%%-*}"
  local ok p_ms c_ms
  rate=$(sed -n 's/.*rate=\([0-9]*\)\/s.*/\1/p' <<<"$res")
  errors=$(sed -n 's/.* errors=\([0-9]*\) .*/\1/p' <<<"$res")
  ok=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' <<<"$res")
  read -r p_ms c_ms < <(awk -v b="$before" -v a="$after" -v ok="${ok:-0}" -v hz="$hz" 'BEGIN{
    split(b, x, " "); split(a, y, " "); d = ok > 0 ? ok : 1
    printf "%.2f %.2f\n", (y[1]-x[1])*1000/hz/d, (y[2]-x[2])*1000/hz/d }')
  rate=${rate:-0} errors=${errors:-1}
  printf '  %-14s %s  cpu/conn: server %s ms, children %s ms\n' "$name" "$res" "$p_ms" "$c_ms"
}

# node server commands (they take --port; the C server takes the port as argv[1])
node_fork() { exec "$node" --single-threaded "$root/dist/examples/forking-server.js" --linger 0 "$@"; }
node_prefork() { exec "$node" --single-threaded "$root/dist/examples/prefork-server.js" --workers 2 "$@"; }
c_fork() { exec "$tmp/c_fork_server" "$2"; }
py_fork() { exec python3 "$shared/py_fork_server.py" "$2"; }
base_fork() { exec "$node" --single-threaded "$baseline/dist/examples/forking-server.js" --linger 0 "$@"; }
base_prefork() { exec "$node" --single-threaded "$baseline/dist/examples/prefork-server.js" --workers 2 "$@"; }
c_prefork() {
  export PREFORK=2
  exec "$tmp/c_fork_server" "$2"
}
export -f node_fork node_prefork c_fork c_prefork py_fork base_fork base_prefork
export node root tmp shared baseline

echo "server-bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, node $("$node" --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server-bench: $conc concurrent clients; fork pair $conns connections, prefork pair $pconns connections per run; at most $secs s per run; $rounds rounds"

fork_ratios=()
py_ratios=()
base_ratios=()
prefork_ratios=()
prefork_base_ratios=()
total_errors=0

ratio=0
pair() { # label target-fn c-fn conns round: sets ratio
  local label=$1 tf=$2 cf=$3 n=$4 r=$5 t=0 c=0 te=0 ce=0 i
  # Odd rounds run the target first, even rounds the reference first.
  for i in 1 2; do
    if (((r + i) % 2 == 0)); then
      run "node-$label" "SERVED BY Node" "$n" bash -c "$tf \"\$@\"" _
      t=$rate te=$errors
    else
      run "c-$label" "SERVED BY C" "$n" bash -c "$cf \"\$@\"" _
      c=$rate ce=$errors
    fi
  done
  total_errors=$((total_errors + te + ce))
  [ "$te" = 0 ] || echo "  !! node-$label had $te errors"
  [ "$ce" = 0 ] || echo "  !! c-$label had $ce errors"
  ratio=$(awk -v a="$t" -v b="$c" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
  pair_rate=$t
}

# The forking server against C, Python and (with BENCH_BASELINE) its own
# earlier build, in an order that rotates from round to round.
fork_group() { # round
  local r=$1 names=(node c py) i k t=0 c=0 p=0 b=0
  [ -n "$baseline" ] && names+=(base)
  for ((i = 0; i < ${#names[@]}; i++)); do
    k=${names[$(((i + r) % ${#names[@]}))]}
    case $k in
    node) run node-fork "SERVED BY Node" "$conns" bash -c 'node_fork "$@"' _; t=$rate ;;
    c) run c-fork "SERVED BY C" "$conns" bash -c 'c_fork "$@"' _; c=$rate ;;
    py) run py-fork "SERVED BY Python" "$conns" bash -c 'py_fork "$@"' _; p=$rate ;;
    base) run base-fork "SERVED BY Node" "$conns" bash -c 'base_fork "$@"' _; b=$rate ;;
    esac
    total_errors=$((total_errors + errors))
    [ "$errors" = 0 ] || echo "  !! $k-fork had $errors errors"
  done
  local rc rp rb
  rc=$(awk -v a="$t" -v b="$c" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
  rp=$(awk -v a="$t" -v b="$p" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
  echo "  ratio forking/c_fork = $rc   forking/py_fork = $rp"
  fork_ratios+=("$rc")
  py_ratios+=("$rp")
  if [ -n "$baseline" ]; then
    rb=$(awk -v a="$t" -v b="$b" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
    echo "  ratio forking/baseline forking = $rb"
    base_ratios+=("$rb")
  fi
}

for r in $(seq "$rounds"); do
  echo "round $r (load average $(cut -d' ' -f1 /proc/loadavg))"
  if [ "$only" != prefork ]; then
    fork_group "$r"
  fi
  if [ "$only" != fork ]; then
    pair prefork node_prefork c_prefork "$pconns" "$r"
    echo "  ratio prefork/c_prefork = $ratio"
    prefork_ratios+=("$ratio")
    if [ -n "$baseline" ]; then
      run base-prefork "SERVED BY Node" "$pconns" bash -c 'base_prefork "$@"' _
      total_errors=$((total_errors + errors))
      ratio=$(awk -v a="$pair_rate" -v b="$rate" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }')
      echo "  ratio prefork/baseline prefork = $ratio"
      prefork_base_ratios+=("$ratio")
    fi
  fi
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{ if (NR) print a[int((NR+1)/2)]; else print "n/a" }'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN{ print (x != "n/a" && x + 0 >= t) ? "met" : "MISSED" }'; }

echo "server-bench: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$only" != prefork ]; then
  m=$(median "${fork_ratios[@]}")
  echo "median ratio forking-server/c_fork = $m (target >= 0.25: $(verdict "$m" 0.25)); rounds: ${fork_ratios[*]}"
  echo "median ratio forking-server/py_fork_server = $(median "${py_ratios[@]}"); rounds: ${py_ratios[*]}"
  [ -z "$baseline" ] || echo "median ratio forking-server/baseline ($baseline) = $(median "${base_ratios[@]}"); rounds: ${base_ratios[*]}"
fi
if [ "$only" != fork ]; then
  m=$(median "${prefork_ratios[@]}")
  echo "median ratio prefork-server/c_prefork = $m (target >= 0.5: $(verdict "$m" 0.5)); rounds: ${prefork_ratios[*]}"
  [ -z "$baseline" ] || echo "median ratio prefork-server/baseline ($baseline) = $(median "${prefork_base_ratios[@]}"); rounds: ${prefork_base_ratios[*]}"
fi
if [ "$total_errors" != 0 ]; then
  echo "server-bench: $total_errors connections failed" >&2
  exit 1
fi
