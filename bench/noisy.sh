#!/usr/bin/env bash
# noisy.sh - runs bench/compare.sh (acto and the peers, one sitting) while
# a CPU hog competes for one core, so that speed on a busy machine is
# measured, not guessed.
#
#   bench/noisy.sh [scale] [threads]      (defaults 1.0 and 2)
#
# The hog is a busy shell loop pinned to one CPU (taskset), at normal
# priority: the kernel shares that core between it and whatever benchmark
# thread lands there, as it does on a machine where another program is
# busy.  acto and the peers run under the same hog, one after the other.
# Environment (optional):
#   NOISY_CPU        the CPU the hog is pinned to (default 0)
#   NOISY_HOGS       how many hogs on that CPU (default 1)
#   BENCH_WORKLOADS  as for compare.sh (default here: the local workloads,
#                    pingpong ring counting fanin spawn big ask restart)
# The hogs are stopped by pid when the script ends, however it ends.
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
CPU=${NOISY_CPU:-0}
HOGS=${NOISY_HOGS:-1}
if ! [[ $CPU =~ ^[0-9]+$ ]] || ((CPU >= $(nproc))); then
  echo "noisy.sh: bad NOISY_CPU '$CPU' (this machine has $(nproc) CPUs)" >&2
  exit 2
fi
if ! [[ $HOGS =~ ^[1-9][0-9]*$ ]]; then
  echo "noisy.sh: bad NOISY_HOGS '$HOGS'" >&2
  exit 2
fi
command -v taskset >/dev/null || { echo "noisy.sh: needs taskset (util-linux)" >&2; exit 2; }
export BENCH_WORKLOADS=${BENCH_WORKLOADS:-"pingpong ring counting fanin spawn big ask restart"}

HOG_PIDS=()
stop_hogs() {
  local p
  for p in "${HOG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${HOG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  HOG_PIDS=()
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$HOGS"); do
  taskset -c "$CPU" sh -c 'while :; do :; done' &
  HOG_PIDS+=($!)
done
echo "== noisy: $HOGS CPU hog(s) on CPU $CPU (pids ${HOG_PIDS[*]})" >&2
"$DIR/compare.sh" "$@"
rc=$?
stop_hogs
exit "$rc"
