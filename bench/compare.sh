#!/usr/bin/env bash
# Runs acto's benchmarks and the peers' (Erlang/OTP, CAF) in one run on
# this machine and prints every RESULT line, then a table of acto's rate
# against the best peer's for each workload, and a latency block for ask
# and remote_pingpong (every implementation's round-trip percentiles).
#
#   bench/compare.sh [scale] [threads]      (defaults 1.0 and 2)
#
# The peers live in ../shared/bench/peers (PEERS_DIR overrides); they are
# copied to build/shared-peers and run there, where their run.sh installs
# and builds what they need on first use.  The peer
# versions of the workloads the shared peers do not have (ask) live in
# bench/peers (`bench/peers/run.sh --list` names them); they run after the
# shared ones, with the same scale and threads.  Every workload is
# compared, the two-node ones included; BENCH_WORKLOADS narrows them (it
# is passed to the peers as PEER_WORKLOADS, less the workloads only acto
# runs: hol, detect, and the *_tls and *_noio ones).  The latency block says for ask
# and remote_pingpong whether acto's p99 is at most the best peer's and its
# rate at least twice the best peer's.  An encrypted workload NAME_tls is
# set beside the peers' unencrypted NAME, and against acto's own NAME: the
# targets of issue 10 (rate at least 70% of plain and twice the best
# peer's; remote_pingpong p50 within 10 us of plain).  remote_pingpong_noio
# (its behaviours without I/O turns) is set beside the peers'
# remote_pingpong.
set -u
SCALE=${1:-1.0}
THREADS=${2:-2}
DIR=$(cd "$(dirname "$0")" && pwd)
PEERS_SRC=${PEERS_DIR:-$DIR/../../shared/bench/peers}
# The peers build into their own directory: run a copy in the build tree,
# so that the shared sources (read-only by intent) are never written.
PEERS_DIR=${BENCH_BUILD_DIR:-$DIR/../build}/shared-peers
if [[ -d $PEERS_SRC ]]; then
  mkdir -p "$PEERS_DIR" && cp -r "$PEERS_SRC/." "$PEERS_DIR/" && chmod -R u+w "$PEERS_DIR" ||
    { echo "compare.sh: cannot copy the peers to $PEERS_DIR" >&2; exit 1; }
fi
WL=${BENCH_WORKLOADS:-"pingpong ring counting fanin spawn big restart ask remote_pingpong remote_pingpong_noio remote_stream remote_pingpong_tls remote_stream_tls hol join detect global_lookup group_broadcast"}
LOCAL_PEERS=$DIR/peers/run.sh
LOCAL_IMPL=" $("$LOCAL_PEERS" --list 2>/dev/null) "   # e.g. " ask "
PEER_WL=""        # for the shared peers
LOCAL_WL=""       # for bench/peers
for w in $WL; do
  case $w in
    hol|detect|*_tls|*_noio) ;;
    *) if [[ $LOCAL_IMPL == *" $w "* ]]; then LOCAL_WL="$LOCAL_WL $w"
       else PEER_WL="$PEER_WL $w"; fi ;;
  esac
done
OUT=$(mktemp /tmp/acto-compare.XXXXXX)
trap 'rm -f "$OUT"' EXIT

echo "== acto (scale $SCALE, threads $THREADS)" >&2
BENCH_WORKLOADS="$WL" "$DIR/run.sh" "$SCALE" "$THREADS" | tee -a "$OUT"
rc=${PIPESTATUS[0]}
if [[ -z ${PEER_WL// } ]]; then
  :   # nothing for the shared peers (their run.sh would run everything)
elif [[ -x $PEERS_DIR/run.sh ]]; then
  echo "== peers" >&2
  PEER_WORKLOADS="${PEER_WL# }" "$PEERS_DIR/run.sh" "$SCALE" "$THREADS" | tee -a "$OUT"
  [[ ${PIPESTATUS[0]} == 0 ]] || rc=1
else
  echo "compare.sh: no peers at $PEERS_DIR" >&2
  rc=1
fi
if [[ -n ${LOCAL_WL// } ]]; then
  echo "== peers (bench/peers:${LOCAL_WL})" >&2
  PEER_WORKLOADS="${LOCAL_WL# }" "$LOCAL_PEERS" "$SCALE" "$THREADS" | tee -a "$OUT"
  [[ ${PIPESTATUS[0]} == 0 ]] || rc=1
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
    p999[w, impl] = field("p999_us"); pmax[w, impl] = field("max_us")
    has[w, impl] = 1
    ratio[w, impl] = field("ratio"); sok[w, impl] = field("s_ok")
    kp99[w, impl] = field("kill_p99_ms"); smr[w, impl] = field("stop_max_ratio")
    if (impl != "acto" && r > best[w]) { best[w] = r; bestimpl[w] = impl }
    seen[w] = 1
  }
  END {
    printf "\n%-20s %14s %14s %-8s %7s %10s %10s\n", "workload", "acto msgs/s", "best peer", "peer", "ratio", "acto rss", "peer rss"
    n = split("pingpong ring counting fanin spawn big restart ask remote_pingpong remote_pingpong_noio remote_stream remote_pingpong_tls remote_stream_tls join global_lookup group_broadcast", order, " ")
    for (k = 1; k <= n; k++) {
      w = order[k]; if (!(w in seen)) continue
      pw = w; sub(/_tls$/, "", pw)   # the peers run NAME_tls unencrypted, as NAME
      sub(/_noio$/, "", pw)          # and NAME_noio as NAME
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
    # Latency block: round-trip percentiles of every implementation, and
    # the targets: acto p99 <= the best (lowest) peer p99, acto rate >= 2x
    # the best peer rate.
    nl = split("ask remote_pingpong", lw, " ")
    ni = split("acto erlang caf", li, " ")
    head = 0
    for (k = 1; k <= nl; k++) {
      w = lw[k]; if (!(w in seen)) continue
      if (!head) {
        printf "\n%-16s %-7s %9s %9s %9s %10s %12s\n", "latency (us)", "impl", "p50", "p99", "p999", "max", "msgs/s"
        head = 1
      }
      bp99 = ""; bp99impl = ""
      for (j = 1; j <= ni; j++) {
        i = li[j]; if (!((w, i) in has)) continue
        printf "%-16s %-7s %9s %9s %9s %10s %12.0f\n", w, i, (p50[w, i] != "" ? p50[w, i] : "-"), (p99[w, i] != "" ? p99[w, i] : "-"), (p999[w, i] != "" ? p999[w, i] : "-"), (pmax[w, i] != "" ? pmax[w, i] : "-"), rate[w, i]
        if (i != "acto" && p99[w, i] != "" && (bp99 == "" || p99[w, i] + 0 < bp99 + 0)) { bp99 = p99[w, i]; bp99impl = i }
      }
      if (!((w, "acto") in has) || p99[w, "acto"] == "")
        printf "%s: no acto result with p99\n", w
      else if (bp99 == "")
        printf "%s: no peer result with p99\n", w
      else
        printf "%s: acto p99 %s us vs best peer %s us (%s): %s; rate %.2fx best peer (%s) (target >= 2): %s\n", w, p99[w, "acto"], bp99, bp99impl, (p99[w, "acto"] + 0 <= bp99 + 0 ? "met" : "NOT met"), (best[w] > 0 ? rate[w, "acto"] / best[w] : 0), bestimpl[w], (best[w] > 0 && rate[w, "acto"] >= 2 * best[w] ? "met" : "NOT met")
    }
    if (("detect", "acto") in rate)
      printf "\ndetect (acto only): SIGKILL seen down p99 %s ms (target <= 100), SIGSTOP worst %s x the heartbeat timeout (target <= 1.25)", kp99["detect", "acto"], smr["detect", "acto"]
    if (("hol", "acto") in ratio)
      printf "\nhol (acto only): rate %.0f with S stuck, ratio %s to S idle, s_ok=%s (targets: ratio >= 0.8, s_ok=true)\n", rate["hol", "acto"], ratio["hol", "acto"], sok["hol", "acto"]
  }' "$OUT"
exit "$rc"
