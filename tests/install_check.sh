#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds samples/first
# against it twice: with pkg-config and with CMake's find_package(acto).
# Usage: install_check.sh <build-dir> <source-dir>
set -eu
BUILD=$1
SRC=$2
TMP=$(mktemp -d /tmp/acto-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
PC=$(find "$TMP/prefix" -name acto.pc | head -n 1)
[ -n "$PC" ] || { echo "install_check: acto.pc not installed" >&2; exit 1; }
[ -f "$TMP/prefix/include/acto/acto.h" ] || { echo "install_check: acto.h not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$PC")
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$TMP/first_pc" "$SRC/samples/first/first.c" \
  $(pkg-config --cflags acto) $(pkg-config --libs acto)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir acto) "$TMP/first_pc" >/dev/null
mkdir -p "$TMP/cm"
cat > "$TMP/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(first_cm C)
find_package(acto REQUIRED)
add_executable(first "$SRC/samples/first/first.c")
target_link_libraries(first PRIVATE acto::acto_static)
CM
cmake -S "$TMP/cm" -B "$TMP/cm/build" -DCMAKE_PREFIX_PATH="$TMP/prefix" >/dev/null
cmake --build "$TMP/cm/build" >/dev/null
"$TMP/cm/build/first" >/dev/null
echo "install_check: pkg-config and find_package builds of samples/first run"
