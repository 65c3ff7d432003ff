#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds samples/first
# (#include <acto/acto.h>) against it twice: with pkg-config and with
# CMake's find_package(acto); a program written with #include "acto.h"
# builds both ways too (ACTORS.md keeps that promise to installed
# consumers).  Then builds the library again with the other msgpack module
# name into a multiarch libdir and links samples/first statically, and
# uses acto from a source tree, where an internal header must not be
# reachable (below).
# Usage: install_check.sh <build-dir> <source-dir>
set -eu
BUILD=$1
SRC=$2
TMP=$(mktemp -d /tmp/acto-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
PC=$(find "$TMP/prefix" -name acto.pc | head -n 1)
[ -n "$PC" ] || { echo "install_check: acto.pc not installed" >&2; exit 1; }
for h in acto.h acto_version.h; do
  [ -f "$TMP/prefix/include/acto/$h" ] || { echo "install_check: $h not installed" >&2; exit 1; }
done
for f in bin/acto_node bin/acto_faultproxy bin/acto_supervision; do
  [ -x "$TMP/prefix/$f" ] || { echo "install_check: $f not installed" >&2; exit 1; }
done
[ -f "$TMP/prefix/share/doc/acto/ACTORS.md" ] ||
  { echo "install_check: ACTORS.md not in share/doc/acto" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$PC")
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$TMP/first_pc" "$SRC/samples/first/first.c" \
  $(pkg-config --cflags acto) $(pkg-config --libs acto)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir acto) "$TMP/first_pc" >/dev/null
# The older include line, "acto.h", still compiles against an installed acto.
cat > "$TMP/compat.c" <<'C'
#include "acto.h"
int main(void) { return acto_version() == ACTO_VERSION_NUMBER ? 0 : 1; }
C
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$TMP/compat_pc" "$TMP/compat.c" \
  $(pkg-config --cflags acto) $(pkg-config --libs acto)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir acto) "$TMP/compat_pc" ||
  { echo "install_check: the \"acto.h\" program failed" >&2; exit 1; }
# A C++ program against the installed headers, pedantic: no compound
# literal, no reserved name (two underscores) may reach C++ from them.
cat > "$TMP/cxx.cpp" <<'CXX'
#include <acto/acto.h>
#include <cstdio>
int main() {
  acto_system *sys = nullptr;
  acto_config cfg = acto_config();
  cfg.threads = 1;
  if (acto_system_create(&cfg, &sys) != 0) return 1;
  acto_ref r = ACTO_REF_NONE;
  int rc = acto_send(sys, r, 1, nullptr, 0);
  std::printf("%s\n", acto_err_name(rc));
  return acto_system_shutdown(sys) == 0 && rc == ACTO_ESTALE && acto_ref_is_none(r) &&
                 acto_version() == ACTO_VERSION_NUMBER
             ? 0
             : 1;
}
CXX
# A program with <acto/acto_msgpack.h> builds with msgpack-c's flags added
# (whichever module name this machine has) and runs against the shared
# library: a declared struct packs, unpacks and prints.
MP=msgpack
pkg-config --exists msgpack-c && MP=msgpack-c
cat > "$TMP/mp.c" <<'C'
#include <string.h>
#include <acto/acto_msgpack.h>
#define PT(F) F(str, name, 8) F(u32, n) F(ref, who)
ACTO_MSGPACK_STRUCT(pt, PT)
int main(void) {
  pt a = {"x", 7, {1, 2}}, b;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  char text[96];
  int ok = pt_pack(&pk, &a) == 0 && pt_unpack(sb.data, sb.size, &b, NULL) == 0 &&
           pt_print(&b, text, sizeof text) > 0 &&
           strcmp(text, "pt{name=\"x\", n=7, who=ref(0x1, 0x2)}") == 0 &&
           acto_msgpack_check(sb.data, sb.size, 0) == 0;
  msgpack_sbuffer_destroy(&sb);
  return ok ? 0 : 1;
}
C
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$TMP/mp_pc" "$TMP/mp.c" \
  $(pkg-config --cflags acto $MP) $(pkg-config --libs acto $MP)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir acto) "$TMP/mp_pc" ||
  { echo "install_check: the acto_msgpack.h program failed" >&2; exit 1; }
for cxx in g++ clang++; do
  command -v $cxx >/dev/null 2>&1 || continue
  extra=""
  [ $cxx = clang++ ] && extra="-Wreserved-identifier"
  # shellcheck disable=SC2046
  $cxx -std=c++11 -Wall -Wextra -Wpedantic -Werror $extra -o "$TMP/cxx_$cxx" "$TMP/cxx.cpp" \
    $(pkg-config --cflags acto) $(pkg-config --libs acto)
  LD_LIBRARY_PATH=$(pkg-config --variable=libdir acto) "$TMP/cxx_$cxx" >/dev/null ||
    { echo "install_check: the $cxx program failed" >&2; exit 1; }
done
mkdir -p "$TMP/cm"
cat > "$TMP/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(first_cm C)
find_package(acto REQUIRED)
add_executable(first "$SRC/samples/first/first.c")
target_link_libraries(first PRIVATE acto::acto_static)
add_executable(first_any "$SRC/samples/first/first.c")
target_link_libraries(first_any PRIVATE acto::acto)
add_executable(compat "$TMP/compat.c")
target_link_libraries(compat PRIVATE acto::acto_static)
CM
cmake -S "$TMP/cm" -B "$TMP/cm/build" -DCMAKE_PREFIX_PATH="$TMP/prefix" >/dev/null
cmake --build "$TMP/cm/build" >/dev/null
"$TMP/cm/build/first" >/dev/null
"$TMP/cm/build/first_any" >/dev/null
"$TMP/cm/build/compat"

# A second build of the library, as Debian 13 would make it: msgpack-c 6
# names its pkg-config module msgpack-c (older ones: msgpack), and Debian
# installs into a multiarch libdir.  It sees only the module name this
# machine does not use (PKG_CONFIG_LIBDIR: a copy of the system's modules
# with msgpack's renamed), installs into lib/<triplet>, and samples/first
# links its static archive through pkg-config --static.
FAKE=$TMP/pc
mkdir -p "$FAKE"
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
  [ -d "$d" ] && find "$d" -maxdepth 1 -name '*.pc' -exec cp -n {} "$FAKE/" \;
done
if [ -f "$FAKE/msgpack-c.pc" ]; then
  mv "$FAKE/msgpack-c.pc" "$FAKE/msgpack.pc"; OTHER=msgpack
else
  mv "$FAKE/msgpack.pc" "$FAKE/msgpack-c.pc"; OTHER=msgpack-c
fi
TRIPLET=$(cc -dumpmachine)
export PKG_CONFIG_LIBDIR=$FAKE
cmake -S "$SRC" -B "$TMP/b2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_LIBDIR="lib/$TRIPLET" \
  -DACTO_BUILD_TESTS=OFF -DACTO_BUILD_SAMPLES=OFF -DACTO_BUILD_TOOLS=OFF -DACTO_BUILD_BENCH=OFF \
  >"$TMP/b2.log" 2>&1 || { cat "$TMP/b2.log" >&2; exit 1; }
cmake --build "$TMP/b2" -j "$(nproc)" --target acto_static acto_shared >"$TMP/b2.log" 2>&1 ||
  { cat "$TMP/b2.log" >&2; exit 1; }
cmake --install "$TMP/b2" --prefix "$TMP/p2" >/dev/null
export PKG_CONFIG_PATH=$TMP/p2/lib/$TRIPLET/pkgconfig
[ -f "$PKG_CONFIG_PATH/acto.pc" ] || { echo "install_check: no acto.pc in lib/$TRIPLET" >&2; exit 1; }
grep -q "^Requires.private: $OTHER " "$PKG_CONFIG_PATH/acto.pc" ||
  { echo "install_check: acto.pc does not require $OTHER" >&2; exit 1; }
[ "$(cd "$(pkg-config --variable=prefix acto)" && pwd -P)" = "$(cd "$TMP/p2" && pwd -P)" ] ||
  { echo "install_check: acto.pc prefix $(pkg-config --variable=prefix acto) is not $TMP/p2" >&2; exit 1; }
rm -f "$TMP/p2/lib/$TRIPLET"/libacto.so*
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$TMP/first_static" "$SRC/samples/first/first.c" \
  $(pkg-config --cflags acto) $(pkg-config --static --libs acto)
"$TMP/first_static" >/dev/null

# acto inside another project, by add_subdirectory and by FetchContent:
# only the library is built (no tests, so Check is not needed: it is
# hidden here), and acto::acto links; a file of the parent that includes
# an internal header of acto does not compile: it is not found.
rm -f "$FAKE/check.pc"
unset PKG_CONFIG_PATH
printf '#include "actor/actor_internal.h"\n' > "$TMP/internal.c"
for how in subdirectory fetchcontent; do
  mkdir -p "$TMP/$how"
  if [ $how = subdirectory ]; then
    use="add_subdirectory(\"$SRC\" acto)"
  else
    use="include(FetchContent)
FetchContent_Declare(acto SOURCE_DIR \"$SRC\")
FetchContent_MakeAvailable(acto)"
  fi
  cat > "$TMP/$how/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(parent C)
$use
add_executable(first "$SRC/samples/first/first.c")
target_link_libraries(first PRIVATE acto::acto)
add_library(internal OBJECT EXCLUDE_FROM_ALL "$TMP/internal.c")
target_link_libraries(internal PRIVATE acto::acto)
CM
  cmake -S "$TMP/$how" -B "$TMP/$how/build" >"$TMP/$how.log" 2>&1 ||
    { cat "$TMP/$how.log" >&2; exit 1; }
  if cmake --build "$TMP/$how/build" --target help | grep -q "test_actor\|bench_pingpong"; then
    echo "install_check: $how builds acto's tests or benchmarks" >&2; exit 1
  fi
  cmake --build "$TMP/$how/build" -j "$(nproc)" --target first >"$TMP/$how.log" 2>&1 ||
    { cat "$TMP/$how.log" >&2; exit 1; }
  "$TMP/$how/build/first" >/dev/null
  if cmake --build "$TMP/$how/build" --target internal >"$TMP/$how.log" 2>&1; then
    echo "install_check: $how: a consumer of acto::acto includes actor/actor_internal.h" >&2
    exit 1
  fi
  grep -E "actor/actor_internal.h.*(No such file|file not found)" "$TMP/$how.log" >/dev/null ||
    { cat "$TMP/$how.log" >&2; echo "install_check: $how: internal.c failed, but not as not found" >&2; exit 1; }
done
unset PKG_CONFIG_LIBDIR
echo "install_check: pkg-config and find_package builds of samples/first and of an" \
  "\"acto.h\" program run; and with $OTHER, lib/$TRIPLET and pkg-config --static;" \
  "add_subdirectory and FetchContent, which do not reach actor/actor_internal.h"
