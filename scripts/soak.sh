#!/usr/bin/env bash
# Soak test of examples/forking-server.js: many connections from concurrent
# clients while another process sends the server SIGCHLD storms, then a
# count of errors, zombies and fds, and a clean SIGTERM stop.
#
#   bash scripts/soak.sh             (after npm run build)
#
# Environment (all bounded): SOAK_CONNECTIONS (20000), SOAK_CONCURRENCY (16),
# SOAK_SECONDS (900: time limit of the load), SOAK_STORM_SIGNALS (200 per
# storm; 0 for no storms), SOAK_STORMS (at most this many storms, 2000).
# The load generator is ../shared/bench/loadgen.c (built with cc into a temp
# dir) when it exists beside the checkout, else dist/examples/tools/client.js.
# Exits non-zero on any failed connection, zombie, fd difference, child not
# reaped, or unclean exit.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${SOAK_CONNECTIONS:-20000}
conc=${SOAK_CONCURRENCY:-16}
secs=${SOAK_SECONDS:-900}
per_storm=${SOAK_STORM_SIGNALS:-200}
max_storms=${SOAK_STORMS:-2000}
node=${NODE:-node}

[ -f dist/examples/forking-server.js ] || {
  echo "soak: dist/examples/forking-server.js is missing: run npm run build" >&2
  exit 2
}
tmp=$(mktemp -d /tmp/wtf-soak.XXXXXX)
server=""
storms=""
cleanup() {
  [ -n "$storms" ] && kill "$storms" 2>/dev/null
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    for c in $(ps -o pid= --ppid "$server"); do kill -KILL "$c" 2>/dev/null; done
    kill -KILL "$server" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

shared="$root/../shared/bench"
if [ -f "$shared/loadgen.c" ] && command -v cc >/dev/null; then
  cc -O2 -pthread -o "$tmp/loadgen" "$shared/loadgen.c" || exit 2
  load() { "$tmp/loadgen" -p "$1" -c "$conc" -n "$n" -t "$secs" -x "SERVED BY Node"; }
  loader="loadgen ($shared/loadgen.c)"
else
  load() { "$node" dist/examples/tools/client.js --port "$1" --connections "$n" --concurrency "$conc" --timeout "$secs"; }
  loader="dist/examples/tools/client.js"
fi

port=$("$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$node" --single-threaded dist/examples/forking-server.js --port "$port" --linger 0 >"$tmp/server.log" 2>"$tmp/server.err" &
server=$!
for _ in $(seq 150); do grep -q "^Listening on: 0.0.0.0:$port$" "$tmp/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "^Listening on: 0.0.0.0:$port$" "$tmp/server.log" || {
  echo "soak: the server did not start" >&2
  cat "$tmp/server.log" "$tmp/server.err" >&2
  exit 1
}
reply=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'hello\n' >&3 && cat <&3)
[ "$reply" = "SERVED BY Node: hello" ] || {
  echo "soak: unexpected first reply: '$reply'" >&2
  exit 1
}
for _ in $(seq 100); do [ -z "$(ps -o pid= --ppid "$server")" ] && break; sleep 0.05; done
sleep 0.2
fds_before=$(ls "/proc/$server/fd" | wc -l)

echo "soak: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, node $("$node" --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "soak: server pid $server on port $port, $n connections, $conc concurrent, at most $secs s, load by $loader"
echo "soak: SIGCHLD storms of $per_storm signals (at most $max_storms storms) from a separate process"

if [ "$per_storm" -gt 0 ]; then
  # bash's builtin kill: one kill(2) per signal, no fork.
  bash -c '
    s=0 sent=0
    while [ "$s" -lt "$2" ] && kill -0 "$1" 2>/dev/null; do
      for ((i = 0; i < $3; i++)); do kill -CHLD "$1" 2>/dev/null && sent=$((sent + 1)); done
      s=$((s + 1))
      echo "$sent" >"$4"
      sleep 0.2
    done
  ' _ "$server" "$max_storms" "$per_storm" "$tmp/storms" &
  storms=$!
fi

start=$(date +%s.%N)
result=$(load "$port")
load_rc=$?
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}')
if [ -n "$storms" ]; then
  kill "$storms" 2>/dev/null
  wait "$storms" 2>/dev/null
  storms=""
fi
signals=$(cat "$tmp/storms" 2>/dev/null || echo "?")
echo "soak: load: $result (exit $load_rc, ${elapsed} s)"

# Let the last children finish and be reaped (linger 0: they exit at once).
for _ in $(seq 200); do [ -z "$(ps -o pid= --ppid "$server")" ] && break; sleep 0.05; done
sleep 0.3
zombies=$(ps -o pid=,stat= --ppid "$server" | awk '$2 ~ /^Z/' | wc -l)
alive=$(ps -o pid= --ppid "$server" | wc -l)
fds_after=$(ls "/proc/$server/fd" | wc -l)
ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$result")
errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$result")
reaped=$(grep -c ' is shutting down$' "$tmp/server.log")
served=$(( ${ok:-0} + ${errors:-0} + 1 ))

kill -TERM "$server"
code=""
for _ in $(seq 100); do
  if ! kill -0 "$server" 2>/dev/null; then
    wait "$server"
    code=$?
    break
  fi
  sleep 0.1
done
[ -n "$code" ] || code="did not exit within 10 s"
server=""
quit=$(grep -c '^Quitting process ' "$tmp/server.log")

echo "soak: ok=${ok:-?} errors=${errors:-?} SIGCHLD sent=$signals"
echo "soak: children left=$alive zombies=$zombies reaped=$reaped (connections accepted, first request included: about $served)"
echo "soak: server fds before=$fds_before after=$fds_after"
echo "soak: SIGTERM: exit code $code, 'Quitting process' lines $quit, stderr $(wc -c <"$tmp/server.err") bytes"

fail=0
[ "$load_rc" = 0 ] && [ "${errors:-1}" = 0 ] && [ "${ok:-0}" = "$n" ] || { echo "soak: FAIL: connections failed or missing" >&2; fail=1; }
[ "$zombies" = 0 ] && [ "$alive" = 0 ] || { echo "soak: FAIL: children left behind" >&2; fail=1; }
[ "$fds_before" = "$fds_after" ] || { echo "soak: FAIL: fd count changed" >&2; fail=1; }
[ "$reaped" -ge $((${ok:-0} + 1)) ] || { echo "soak: FAIL: fewer children reaped than served" >&2; fail=1; }
[ "$code" = 0 ] && [ "$quit" = 1 ] || { echo "soak: FAIL: unclean exit" >&2; fail=1; }
[ ! -s "$tmp/server.err" ] || { echo "soak: server stderr:" >&2; head -20 "$tmp/server.err" >&2; fail=1; }
[ "$fail" = 0 ] && echo "soak: PASS"
exit "$fail"
