#!/usr/bin/env bash
# Builds everything (library, samples, tools, benchmarks, tests) in every
# standard CMake build type with gcc and with clang, -Wall -Wextra -Werror
# as always: optimisation levels change what the compilers warn about
# (gcc's -O3 maybe-uninitialized, -O2 format-truncation), so a tree that
# builds in one type may not build in another.  Build directories go to
# build-matrix/<cc>-<type>/.  Exits non-zero on the first failure.
#
#   scripts/build-matrix.sh [cc ...]        (default: gcc clang)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
ccs=("$@")
[[ ${#ccs[@]} -gt 0 ]] || ccs=(gcc clang)
for cc in "${ccs[@]}"; do
  command -v "$cc" >/dev/null || { echo "build-matrix: $cc not found" >&2; exit 1; }
  for type in Debug Release RelWithDebInfo MinSizeRel; do
    dir=build-matrix/$cc-$type
    echo "== $cc $type"
    CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=$type >/dev/null
    if ! cmake --build "$dir" -j "$JOBS" >"$dir.log" 2>&1; then
      grep -E "error|warning" "$dir.log" | head -20 >&2
      echo "build-matrix: $cc $type failed (log: $dir.log)" >&2
      exit 1
    fi
  done
done
echo "build-matrix: every build type builds with ${ccs[*]}"
