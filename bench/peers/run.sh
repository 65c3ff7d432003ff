#!/usr/bin/env bash
# run.sh - runs the peer versions (Erlang/OTP, CAF 0.17) of the workloads
# that the shared peers (../../../shared/bench/peers) do not have, and
# prints their RESULT lines on stdout; progress goes to stderr.
#
#   bench/peers/run.sh [scale] [threads]     (defaults 1.0 and 2)
#   bench/peers/run.sh --list                 the workloads implemented here
#
#   scale    multiplier on the default sizes (README.md)
#   threads  scheduler threads: erl +S T:T, CAF scheduler.max-threads
#
# Environment (optional):
#   PEER_WORKLOADS   workloads to run (default: ask); names not implemented
#                    here are skipped silently
#   PEER_IMPLS       "erlang caf" (default), or one of them
#   PEER_TIMEOUT     wall-clock limit per OS process in seconds (default
#                    240); each program's own watchdog fires 10 s earlier
#   BENCH_BUILD_DIR  build directory (default <repo>/build); the programs go
#                    to its peers/ subdirectory
#
# The programs are built on first use and whenever a source is newer (the
# toolchains are installed with apt-get when missing and running as root).
# A run that fails (non-zero status, timeout, no RESULT line) is reported
# with a RESULT_FAILED line unless the program printed its own, and makes
# this script exit with status 1.
set -u

IMPLEMENTED="ask"
if [[ ${1:-} == --list ]]; then
  echo "$IMPLEMENTED"
  exit 0
fi

SCALE=${1:-1.0}
THREADS=${2:-2}
DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)
OUTDIR=${BENCH_BUILD_DIR:-$REPO/build}/peers
WORKLOADS=${PEER_WORKLOADS:-ask}
IMPLS=${PEER_IMPLS:-"erlang caf"}
TMO=${PEER_TIMEOUT:-240}

if ! [[ $SCALE =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]]; then
  echo "peers/run.sh: bad scale '$SCALE' (usage: bench/peers/run.sh [scale] [threads])" >&2
  exit 2
fi
if ! [[ $THREADS =~ ^[1-9][0-9]*$ ]]; then
  echo "peers/run.sh: bad threads '$THREADS' (usage: bench/peers/run.sh [scale] [threads])" >&2
  exit 2
fi
if ! [[ $TMO =~ ^[1-9][0-9]*$ ]]; then
  echo "peers/run.sh: bad PEER_TIMEOUT '$TMO'" >&2
  exit 2
fi
INNER=$((TMO > 20 ? TMO - 10 : TMO))   # the programs' watchdogs fire first

# The runs wanted: implemented workloads only, in the order given.
RUNS=()
for w in $WORKLOADS; do
  [[ " $IMPLEMENTED " == *" $w "* ]] || continue
  for impl in $IMPLS; do RUNS+=("$w:$impl"); done
done
(( ${#RUNS[@]} > 0 )) || exit 0

# ---------------------------------------------------------------- build
need_erlang=0 need_caf=0
for run in "${RUNS[@]}"; do
  case ${run##*:} in
    erlang) need_erlang=1 ;;
    caf) need_caf=1 ;;
  esac
done

install_toolchains() {
  local missing=0
  if (( need_erlang )) && ! command -v erlc >/dev/null 2>&1; then missing=1; fi
  if (( need_caf )) && { [[ ! -d /usr/include/caf ]] ||
                         ! command -v "${CXX:-g++}" >/dev/null 2>&1; }; then
    missing=1
  fi
  (( missing )) || return 0
  if [[ $(id -u) == 0 ]]; then
    echo "peers/run.sh: installing erlang-base libcaf-dev g++" >&2
    apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-base libcaf-dev g++ >/dev/null
  else
    echo "peers/run.sh: needs erlang-base, libcaf-dev and g++ (run as root to install them)" >&2
    return 1
  fi
}

build() {
  mkdir -p "$OUTDIR" || return 1
  if (( need_erlang )) && [[ ! -e $OUTDIR/askbench.beam || $DIR/askbench.erl -nt $OUTDIR/askbench.beam ]]; then
    echo "peers/run.sh: erlc askbench.erl -> $OUTDIR" >&2
    erlc -o "$OUTDIR" "$DIR/askbench.erl" >&2 || return 1
  fi
  if (( need_caf )) && [[ ! -x $OUTDIR/ask || $DIR/ask.cpp -nt $OUTDIR/ask ]]; then
    echo "peers/run.sh: g++ ask.cpp -> $OUTDIR/ask" >&2
    ${CXX:-g++} -O2 -std=c++17 -pthread -o "$OUTDIR/ask.tmp" "$DIR/ask.cpp" \
      -lcaf_io -lcaf_core >&2 && mv -f "$OUTDIR/ask.tmp" "$OUTDIR/ask" ||
      { rm -f "$OUTDIR/ask.tmp"; return 1; }
  fi
}

install_toolchains && build || { echo "peers/run.sh: build failed" >&2; exit 1; }

# ---------------------------------------------------------------- run
TMPD=$(mktemp -d /tmp/acto-peers.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
trap 'exit 130' INT TERM
export ERL_CRASH_DUMP_SECONDS=0

run_one() {   # run_one WORKLOAD IMPL: the program's stdout on stdout
  local w=$1 impl=$2
  case $impl in
    erlang)
      # in $TMPD, so that a crash leaves nothing in the caller's directory
      ( cd "$TMPD" && exec timeout -k 5 "$TMO" erl -noshell -noinput \
          -pa "$OUTDIR" +S "$THREADS:$THREADS" \
          -run askbench main "$w" "$SCALE" "$INNER" )
      ;;
    caf)
      timeout -k 5 "$TMO" "$OUTDIR/$w" "$SCALE" "$THREADS" "$INNER"
      ;;
    *)
      echo "peers/run.sh: unknown impl $impl" >&2
      return 2
      ;;
  esac
}

echo "peers/run.sh: scale=$SCALE threads=$THREADS impls='$IMPLS' $(date -Is)" >&2
status=0
for run in "${RUNS[@]}"; do
  w=${run%%:*}
  impl=${run##*:}
  t0=$(date +%s.%N)
  out=$(run_one "$w" "$impl")
  rc=$?
  t1=$(date +%s.%N)
  [[ -n $out ]] && printf '%s\n' "$out"
  if (( rc == 0 )) && ! grep -q '^RESULT ' <<<"$out"; then
    echo "peers/run.sh: $w $impl exited 0 without a RESULT line" >&2
    rc=1
  fi
  awk -v w="$w" -v i="$impl" -v rc="$rc" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "peers/run.sh: %-16s %-6s rc=%d wall=%.1fs\n", w, i, rc, b - a }' >&2
  if (( rc != 0 )); then
    status=1
    grep -q '^RESULT_FAILED ' <<<"$out" ||
      echo "RESULT_FAILED workload=$w impl=$impl threads=$THREADS rc=$rc"
  fi
done
exit $status
