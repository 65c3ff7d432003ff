#!/usr/bin/env bash
# Two chat servers built by different compilers join one cluster and share
# rooms: the chat sample (samples/chat) is compiled a second time with
# another compiler (clang, when the build's is gcc) against the same acto
# archive, then each build runs once as the first server and once as the
# one that joins it by --seed, with a client on each that says a line in a
# room the other is in, both ways.
# The servers exchange msgpack payloads (ACTORS.md 13.8, 13.9), so nothing
# depends on both being the same binary.  (gcc -m32 would be the stronger
# test; this machine has no i386 libraries for it.)
#
# Every server this script starts is stopped by its pid on every way out.
# Exit 77 (skipped) when the other compiler is missing.
# Usage: check_chat_compilers.sh <other-cc> <chat> <libacto.a> <source-dir>
#        <build-dir> <msgpack pkg-config module>
set -u
OTHER=$1
CHAT=$2
LIBACTO=$3
SRC=$4
BUILD=$5
MP=$6
command -v "$OTHER" >/dev/null 2>&1 || { echo "check_chat_compilers: no $OTHER: skipped"; exit 77; }
TMP=$(mktemp -d /tmp/acto-chatcc.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  exec 3>&- 4>&- 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "check_chat_compilers: $*" >&2
  for f in "$TMP"/*.out "$TMP"/*.err; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
  exit 1
}

# The second build: the sample's sources only, against the same archive.
# shellcheck disable=SC2046
"$OTHER" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$SRC/include" -I"$BUILD/include" \
  -o "$TMP/chat_other" "$SRC"/samples/chat/*.c "$LIBACTO" \
  $(pkg-config --libs "$MP" libevent libevent_pthreads libssl libcrypto) -lpthread ||
  fail "the chat sample does not build with $OTHER"

KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
TIMEOUT=${CHECK_CHAT_TIMEOUT:-20}

# Waits until file $1 has a line starting with $2; prints the rest of it.
wait_line() {
  local end=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $end ]; do
    local l
    l=$(grep -m1 "^$2" "$1" 2>/dev/null) && { echo "${l#"$2"}"; return 0; }
    sleep 0.05
  done
  return 1
}

# Starts server $1 (a binary) named $2 with output in $TMP/$2.out; prints
# its pid, and waits for "ready".
start() {
  local bin=$1 name=$2
  shift 2
  "$bin" --port 0 --line-rate 0 --node "$name" --key-hex "$KEY" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!)
  wait_line "$TMP/$name.out" "ready" >/dev/null || fail "$name ($bin) did not start"
}

# Reads lines from fd $1 until one equals $2 (CR LF stripped).
expect() {
  local fd=$1 want=$2 line end=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $end ]; do
    IFS= read -r -t "$TIMEOUT" -u "$fd" line || break
    line=${line%$'\r'}
    [ "$line" = "$want" ] && return 0
  done
  fail "expected \"$want\" on fd $fd"
}

round() {
  local hub_bin=$1 sat_bin=$2 label=$3
  start "$hub_bin" "hub$label"
  local np cp1 cp2
  np=$(wait_line "$TMP/hub$label.out" "node-port ")
  cp1=$(wait_line "$TMP/hub$label.out" "chat-port ")
  start "$sat_bin" "sat$label" --seed "hub$label@127.0.0.1:$np"
  grep -q "^seed hub$label up" "$TMP/sat$label.out" || fail "sat$label did not join hub$label"
  cp2=$(wait_line "$TMP/sat$label.out" "chat-port ")
  exec 3<>"/dev/tcp/127.0.0.1/$cp1" || fail "connect to hub$label"
  exec 4<>"/dev/tcp/127.0.0.1/$cp2" || fail "connect to sat$label"
  printf 'NICK alice\r\n' >&3
  expect 3 "ok nick alice"
  printf 'NICK bob\r\n' >&4
  expect 4 "ok nick bob"
  # Nicks are the cluster's: once the other server knows alice (global
  # names replicate within moments), bob's server refuses her nick.
  local end=$((SECONDS + TIMEOUT)) line
  while :; do
    printf 'NICK Alice\r\n' >&4
    IFS= read -r -t "$TIMEOUT" -u 4 line || fail "no answer to NICK Alice"
    line=${line%$'\r'}
    [ "$line" = "error: nick alice is taken" ] && break
    [ "$line" = "ok nick Alice" ] && { printf 'NICK bob\r\n' >&4; expect 4 "ok nick bob"; }
    [ $SECONDS -lt $end ] || fail "sat$label never learnt that alice is taken"
    sleep 0.05
  done
  printf 'JOIN #mixed\r\n' >&3
  expect 3 "ok join #mixed"
  # bob joins once his server knows alice is in the room (her join
  # replicated), so that she hears of him.
  while :; do
    printf 'USERS #mixed\r\n' >&4
    IFS= read -r -t "$TIMEOUT" -u 4 line || fail "no answer to USERS"
    line=${line%$'\r'}
    [ "$line" = "= alice" ] && { expect 4 "ok users #mixed 1"; break; }
    [ $SECONDS -lt $end ] || fail "sat$label never learnt of #mixed"
    sleep 0.05
  done
  printf 'JOIN #mixed\r\n' >&4
  expect 4 "ok join #mixed"
  expect 3 "* bob joined #mixed"
  printf 'MSG #mixed from the linked server\r\n' >&4
  expect 4 "ok msg #mixed"
  expect 3 "#mixed <bob> from the linked server"
  printf 'MSG #mixed from the hub\r\n' >&3
  expect 3 "ok msg #mixed"
  expect 4 "#mixed <alice> from the hub"
  printf 'MSG bob psst\r\n' >&3
  expect 3 "ok msg bob"
  expect 4 "private <alice> psst"
  printf 'USERS #mixed\r\n' >&4
  expect 4 "= alice"
  expect 4 "= bob"
  expect 4 "ok users #mixed 2"
  printf 'QUIT\r\n' >&4
  expect 4 "ok bye"
  expect 3 "* bob left #mixed (quit)"
  exec 3>&- 4>&-
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" || fail "a server of round $label exited with $?"; done
  PIDS=()
  if grep -q "dropped a message" "$TMP"/*"$label".err; then fail "a server dropped a message"; fi
}

round "$CHAT" "$TMP/chat_other" 1     # the build's compiler as the first server
round "$TMP/chat_other" "$CHAT" 2     # the other compiler as the first server
echo "check_chat_compilers: the chat built by the build's compiler and by $OTHER join one" \
  "cluster and share rooms, each as the first server and as the one that joins"
