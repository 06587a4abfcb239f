#!/usr/bin/env bash
# Builds the addon a second time with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/, then runs the test suite (but
# the packaging test; jest arguments given narrow it) against that build. Node itself is not
# instrumented, so the ASan runtime is preloaded; every process the tests
# start (fixtures, forked children) inherits the environment and runs under
# it too. Any sanitizer report ends the process that hit it with a failure,
# and the script fails if a report appears anywhere in the output.
#
# WTF_ASAN_STEP=build only builds the addon; WTF_ASAN_STEP=test only runs
# the tests, on the addon built before and the dist/ there is (CI builds
# both while another suite starts beside it); unset, both, and dist/ too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stage=$root/build-asan
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"

addon=$stage/build/Release/what_the_fork.node
build_addon() {
  mkdir -p "$stage"
  cp binding.gyp "$stage/binding.gyp"
  ln -sfn ../native "$stage/native"
  (
    cd "$stage"
    CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
      npx --no-install node-gyp rebuild -j 2 >"$stage/gyp.log" 2>&1 || { cat "$stage/gyp.log"; exit 1; }
  )
}
step=${WTF_ASAN_STEP:-all}
[[ $step == build || $step == test || $step == all ]] || { echo "asan: WTF_ASAN_STEP is build, test or unset" >&2; exit 1; }
[[ $step == test ]] || build_addon
[[ $step == build ]] && exit 0
# The build must really be instrumented: an uninstrumented one proves nothing.
symbols=$(nm -D "$addon")
grep -q __asan_report <<<"$symbols" || { echo "asan: $addon has no ASan instrumentation" >&2; exit 1; }
grep -q __ubsan_handle <<<"$symbols" || { echo "asan: $addon has no UBSan instrumentation" >&2; exit 1; }

# The compiled TypeScript (dist/) that fixtures run, built without the runtime.
[[ $step == test ]] || npm run --silent build

libasan=$(${CC:-gcc} -print-file-name=libasan.so)
log=$stage/reports
rm -rf "$log" && mkdir -p "$log"
export WTF_ADDON_PATH=$addon
export LD_PRELOAD=$libasan
# V8 and Node keep memory for the life of the process on purpose: leak
# checking would report those, so it is off. Everything else halts the
# process at the first report, and each report is also written to a file,
# so one in a process whose output a test swallows still fails the run.
# All of node's mallocs go through ASan's allocator here: a 16 MB quarantine
# of freed memory (256 MB by default, in every process; each fork copies
# the page tables) and 8 frames of stack per allocation keep forks and
# worker threads affordable, and use after free is still caught for the
# last 16 MB freed.
export ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=16:malloc_context_size=8:halt_on_error=1:abort_on_error=0:exitcode=86:log_path=$log/asan:allow_user_segv_handler=1:handle_segv=1"
# Load tests (see loadSize in test/helpers.ts) at a fifth of their size here.
export WTF_LOAD_SCALE=0.2
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$log/ubsan"

# Never the packaging test: the package it installs loads its own prebuilt
# addon, never this build.
set -- --testPathIgnorePatterns 06-packaging "$@"
status=0
npx --no-install jest "$@" || status=$?
# Leave the runtime out of whatever runs after this line.
unset LD_PRELOAD
if compgen -G "$log/*" >/dev/null; then
  echo "asan: sanitizer reports:" >&2
  cat "$log"/* >&2
  exit 1
fi
exit "$status"
