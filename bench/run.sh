#!/usr/bin/env bash
# run.sh - runs acto's benchmarks, one OS process per workload, and prints
# their RESULT lines (impl=acto) on stdout; progress goes to stderr.
#
#   bench/run.sh [scale] [threads]
#
#   scale    multiplier on the default sizes of WORKLOADS.md (default 1.0)
#   threads  acto worker threads, acto_config.threads (default 2)
#
# Environment (optional):
#   BENCH_WORKLOADS  workloads to run, separated by spaces
#                    (default: pingpong ring counting fanin spawn big ask restart
#                    remote_pingpong remote_pingpong_noio remote_stream
#                    remote_pingpong_tls remote_stream_tls hol join detect
#                    global_lookup group_broadcast).  join, detect, global_lookup and
#                    group_broadcast are cluster workloads (16, 8, 2 and 4
#                    node processes).  A workload NAME_tls runs the
#                    program of NAME with ACTO_BENCH_TLS=1: the same two-node
#                    run with the link encrypted (TLS 1.3, bench/common.h).
#                    remote_pingpong_noio runs remote_pingpong with
#                    ACTO_BENCH_IO_TURNS=0: its two behaviours without
#                    ACTO_BEHAVIOUR_IO_TURNS, their turns on workers.
#   BENCH_TIMEOUT    wall-clock limit per process in seconds (default 240);
#                    each program's own watchdog fires 10 s earlier
#   ACTO_BENCH_NO_METRICS=1  every program's system is made with
#                    ACTO_CONFIG_NO_METRICS (passed through to them): what
#                    the per-worker metrics cost is measured against it
#   BENCH_BUILD_DIR  the build directory (default: <repo>/build, configured
#                    by `make build/Makefile`, which also installs missing
#                    packages; any other directory is configured by cmake)
#
# The selected programs are built first (incrementally).  A run that fails
# (non-zero status, timeout, crash, or no RESULT line) is reported with a
# RESULT_FAILED line, unless the program printed its own, and makes this
# script exit with status 1.
set -u

SCALE=${1:-1.0}
THREADS=${2:-2}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$REPO/build}
ALL="pingpong ring counting fanin spawn big ask restart remote_pingpong remote_pingpong_noio remote_stream remote_pingpong_tls remote_stream_tls hol join detect global_lookup group_broadcast"
WORKLOADS=${BENCH_WORKLOADS:-$ALL}
TMO=${BENCH_TIMEOUT:-240}

if ! [[ $SCALE =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]]; then
  echo "run.sh: bad scale '$SCALE' (usage: bench/run.sh [scale] [threads])" >&2
  exit 2
fi
if ! [[ $THREADS =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: bad threads '$THREADS' (usage: bench/run.sh [scale] [threads])" >&2
  exit 2
fi
if ! [[ $TMO =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: bad BENCH_TIMEOUT '$TMO'" >&2
  exit 2
fi
INNER=$((TMO > 20 ? TMO - 10 : TMO))   # the programs' watchdogs fire first

# Build only the programs to run, so that a broken sample or test elsewhere
# in the tree cannot stop the benchmarks; stdout too goes to stderr, since
# stdout carries only RESULT lines.
# program WORKLOAD: the program that runs it (NAME_tls: NAME's).
program() {
  local p=$1
  [[ $p == *_tls && -f $REPO/bench/${p%_tls}.c ]] && p=${p%_tls}
  [[ $p == *_noio && -f $REPO/bench/${p%_noio}.c ]] && p=${p%_noio}
  echo "$p"
}
targets=()
for w in $WORKLOADS; do
  p=$(program "$w")
  [[ $w =~ ^[a-z_]+$ && -f $REPO/bench/$p.c && ! " ${targets[*]} " =~ " bench_$p " ]] &&
    targets+=("bench_$p")
done
if (( ${#targets[@]} > 0 )); then
  echo "run.sh: building ${targets[*]} in $BUILD" >&2
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    if [[ $BUILD == "$REPO/build" ]]; then
      # The Makefile's rule installs missing packages, then configures.
      make -C "$REPO" build/Makefile >&2
    else
      cmake -S "$REPO" -B "$BUILD" >&2
    fi || { echo "run.sh: configure failed" >&2; exit 1; }
  fi
  cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >&2 ||
    { echo "run.sh: build failed" >&2; exit 1; }
fi

echo "run.sh: scale=$SCALE threads=$THREADS workloads='$WORKLOADS' $(date -Is)" >&2
status=0
for w in $WORKLOADS; do
  exe="$BUILD/bench_$(program "$w")"
  tls=0
  [[ $w == *_tls ]] && tls=1
  io=1
  [[ $w == *_noio ]] && io=0
  t0=$(date +%s.%N)
  if [[ ! $w =~ ^[a-z_]+$ || ! -x $exe ]]; then
    out=""
    rc=127
    echo "run.sh: no benchmark program $exe" >&2
  else
    out=$(ACTO_BENCH_TLS=$tls ACTO_BENCH_IO_TURNS=$io timeout -k 5 "$TMO" "$exe" "$SCALE" "$THREADS" "$INNER")
    rc=$?
  fi
  t1=$(date +%s.%N)
  [[ -n $out ]] && printf '%s\n' "$out"
  if (( rc == 0 )) && ! grep -q '^RESULT ' <<<"$out"; then
    echo "run.sh: $w exited 0 without a RESULT line" >&2
    rc=1
  fi
  awk -v w="$w" -v rc="$rc" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "run.sh: %-19s rc=%d wall=%.1fs\n", w, rc, b - a }' >&2
  if (( rc != 0 )); then
    status=1
    if ! grep -q '^RESULT_FAILED ' <<<"$out"; then
      echo "RESULT_FAILED workload=$w impl=acto threads=$THREADS rc=$rc"
    fi
  fi
done
exit $status
