#!/usr/bin/env bash
# The public include path holds the public headers and nothing else.  With
# exactly the include directories a target linked to acto::acto gets (CMake
# writes them, one a line, into <dirs-file>), each public header compiles
# on its own as <acto/NAME>, and no internal header (every .h under actor/,
# codec/, mailbox/, supervisor/, transport/) can be found, neither as "actor/x.h"
# nor as "x.h".  Only the preprocessor runs, once per header.
# Usage: check_boundary.sh <cc> <dirs-file> <source-dir> <build-dir>
set -eu
CC=$1
DIRS=$2
SRC=$3
BUILD=$4
flags=()
while IFS= read -r d; do
  [ -n "$d" ] && flags+=("-I$d")
done <"$DIRS"
[ ${#flags[@]} -gt 0 ] || { echo "check_boundary: no include directories in $DIRS" >&2; exit 1; }
bad=0
npub=0
for h in "$SRC"/include/acto/*.h "$BUILD"/include/acto/acto_version.h; do
  n=${h##*/}
  if ! printf '#include <acto/%s>\n' "$n" |
      "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only -x c - "${flags[@]}"; then
    echo "check_boundary: <acto/$n> does not compile on its own with the public path" >&2
    bad=1
  fi
  npub=$((npub + 1))
done
# The probe runs in an empty directory: a quoted include is looked up
# beside the including file first, and for standard input that is the
# working directory.
TMP=$(mktemp -d /tmp/acto-boundary.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
nint=0
for p in $(cd "$SRC" && find actor codec mailbox supervisor transport -name '*.h' | sort); do
  for inc in "$p" "${p##*/}"; do
    if err=$(cd "$TMP" && printf '#include "%s"\n' "$inc" |
        "$CC" -E -x c - "${flags[@]}" 2>&1 >/dev/null); then
      echo "check_boundary: a consumer of acto::acto can include \"$inc\"" >&2
      bad=1
    # Not found is the one error allowed, and it must be about the probe's
    # own line (gcc: "<stdin>:1:10: fatal error: x.h: No such file or
    # directory", clang: "<stdin>:1:10: fatal error: 'x.h' file not found"),
    # not about a header that x.h includes: then x.h itself was found.
    elif ! printf '%s\n' "$err" | grep -F "<stdin>:1:" | grep -F "$inc" |
        grep -qE 'No such file|file not found'; then
      printf '%s\n' "$err" >&2
      echo "check_boundary: a consumer of acto::acto finds \"$inc\"" >&2
      bad=1
    fi
    nint=$((nint + 1))
  done
done
[ $bad = 0 ] || exit 1
echo "check_boundary: $npub public headers compile alone; $nint internal include lines are refused"
