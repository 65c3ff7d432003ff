#!/usr/bin/env bash
# Runs acto's benchmarks and the peers' (Erlang/OTP, CAF) in one run on
# this machine and prints every RESULT line, then a table of acto's rate
# against the best peer's for each workload (and, for remote_pingpong,
# every implementation's p50/p99 round-trip latency).
#
#   bench/compare.sh [scale] [threads]      (defaults 1.0 and 2)
#
# The peers live in ../shared/bench/peers (PEERS_DIR overrides); their
# run.sh installs and builds what they need on first use.  Every workload
# is compared, the two-node ones included; BENCH_WORKLOADS narrows them
# (it is passed to the peers as PEER_WORKLOADS, less the workloads only
# acto runs: hol, detect, and the *_tls ones).  An encrypted workload NAME_tls is
# set beside the peers' unencrypted NAME, and against acto's own NAME: the
# targets of issue 10 (rate at least 70% of plain and twice the best
# peer's; remote_pingpong p50 within 10 us of plain).
set -u
SCALE=${1:-1.0}
THREADS=${2:-2}
DIR=$(cd "$(dirname "$0")" && pwd)
PEERS_DIR=${PEERS_DIR:-$DIR/../../shared/bench/peers}
WL=${BENCH_WORKLOADS:-"pingpong ring counting fanin spawn big restart remote_pingpong remote_stream remote_pingpong_tls remote_stream_tls hol join detect global_lookup group_broadcast"}
PEER_WL=""
for w in $WL; do
  case $w in
    hol|detect|*_tls) ;;
    *) PEER_WL="$PEER_WL $w" ;;
  esac
done
OUT=$(mktemp /tmp/acto-compare.XXXXXX)
trap 'rm -f "$OUT"' EXIT

echo "== acto (scale $SCALE, threads $THREADS)" >&2
BENCH_WORKLOADS="$WL" "$DIR/run.sh" "$SCALE" "$THREADS" | tee -a "$OUT"
rc=${PIPESTATUS[0]}
if [[ -x $PEERS_DIR/run.sh ]]; then
  echo "== peers" >&2
  PEER_WORKLOADS="${PEER_WL# }" "$PEERS_DIR/run.sh" "$SCALE" "$THREADS" | tee -a "$OUT"
  [[ ${PIPESTATUS[0]} == 0 ]] || rc=1
else
  echo "compare.sh: no peers at $PEERS_DIR" >&2
  rc=1
fi

# field NAME LINE: the value of NAME=... in a RESULT line.
awk '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
  }
  $1 == "RESULT" {
    w = field("workload"); impl = field("impl"); r = field("rate") + 0
    rate[w, impl] = r; rss[w, impl] = field("rss_kb")
    bpa[w, impl] = field("bytes_per_actor"); aps[w, impl] = field("actors_per_s")
    p50[w, impl] = field("p50_us"); p99[w, impl] = field("p99_us")
    ratio[w, impl] = field("ratio"); sok[w, impl] = field("s_ok")
    kp99[w, impl] = field("kill_p99_ms"); smr[w, impl] = field("stop_max_ratio")
    if (impl != "acto" && r > best[w]) { best[w] = r; bestimpl[w] = impl }
    seen[w] = 1
  }
  END {
    printf "\n%-20s %14s %14s %-8s %7s %10s %10s\n", "workload", "acto msgs/s", "best peer", "peer", "ratio", "acto rss", "peer rss"
    n = split("pingpong ring counting fanin spawn big restart remote_pingpong remote_stream remote_pingpong_tls remote_stream_tls join global_lookup group_broadcast", order, " ")
    for (k = 1; k <= n; k++) {
      w = order[k]; if (!(w in seen)) continue
      pw = w; sub(/_tls$/, "", pw)   # the peers run NAME_tls unencrypted, as NAME
      b = best[pw]; a = rate[w, "acto"]
      printf "%-20s %14.0f %14.0f %-8s %7.2f %10s %10s\n", w, a, b, bestimpl[pw], (b > 0 ? a / b : 0), rss[w, "acto"], rss[pw, bestimpl[pw]]
    }
    for (k = 1; k <= n; k++) {
      w = order[k]; if (w !~ /_tls$/ || !(w in seen)) continue
      pw = w; sub(/_tls$/, "", pw)
      if (p50[w, "acto"] != "" && p50[pw, "acto"] != "")   # a latency workload
        printf "\n%s: p50 %s us, %s %s us: %+.1f us (target <= +10)", w, p50[w, "acto"], pw, p50[pw, "acto"], p50[w, "acto"] - p50[pw, "acto"]
      else if (rate[pw, "acto"] > 0)
        printf "\n%s: %.2f of acto %s (target >= 0.70), %.2f of %s %s (target >= 2)", w, rate[w, "acto"] / rate[pw, "acto"], pw, (best[pw] > 0 ? rate[w, "acto"] / best[pw] : 0), bestimpl[pw], pw
    }
    printf "\n"
    if (("spawn", "acto") in bpa)
      printf "\nspawn: acto %s B/actor, %s actors/s; caf %s B/actor, %s actors/s; erlang %s B/actor\n", bpa["spawn", "acto"], aps["spawn", "acto"], bpa["spawn", "caf"], aps["spawn", "caf"], bpa["spawn", "erlang"]
    if (("remote_pingpong", "acto") in p50)
      printf "\nremote_pingpong p50/p99 us: acto %s/%s; erlang %s/%s; caf %s/%s\n", p50["remote_pingpong", "acto"], p99["remote_pingpong", "acto"], p50["remote_pingpong", "erlang"], p99["remote_pingpong", "erlang"], p50["remote_pingpong", "caf"], p99["remote_pingpong", "caf"]
    if (("detect", "acto") in rate)
      printf "\ndetect (acto only): SIGKILL seen down p99 %s ms (target <= 100), SIGSTOP worst %s x the heartbeat timeout (target <= 1.25)", kp99["detect", "acto"], smr["detect", "acto"]
    if (("hol", "acto") in ratio)
      printf "\nhol (acto only): rate %.0f with S stuck, ratio %s to S idle, s_ok=%s (targets: ratio >= 0.8, s_ok=true)\n", rate["hol", "acto"], ratio["hol", "acto"], sok["hol", "acto"]
  }' "$OUT"
exit "$rc"
