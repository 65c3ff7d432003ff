#!/usr/bin/env bash
# Every atomic operation of the library names its memory order: no
# atomic_load(), atomic_fetch_add(), ... without _explicit, in the library's
# sources (actor/, codec/, mailbox/, supervisor/, transport/, include/).  Plain
# reads, writes and ++ of an _Atomic object (implicitly seq_cst) are caught
# by clang's -Watomic-implicit-seq-cst, which CMake turns on for the
# library when the compiler is clang (make build-matrix builds with it).
# Usage: check_atomics.sh <source-dir>
set -eu
cd "$1"
if grep -rnE --include='*.c' --include='*.h' \
    '\batomic_(load|store|fetch_[a-z]+|exchange|compare_exchange_(weak|strong)|flag_test_and_set|flag_clear|thread_fence|signal_fence)\(' \
    actor codec mailbox supervisor transport include; then
  echo "check_atomics: the calls above do not name their memory order (use the _explicit form)" >&2
  exit 1
fi
echo "check_atomics: every atomic call of the library names its order"
