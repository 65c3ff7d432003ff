#!/usr/bin/env bash
# Installs the Debian packages acto needs, only those that are missing.
# Called by `make demo`, `make test` and `make bench`; safe to run again.
set -eu
PKGS="pkg-config cmake make gcc libevent-dev check libsubunit-dev libssl-dev"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $PKGS; do
  installed "$p" || missing="$missing $p"
done
# msgpack-c: libmsgpack-dev up to Debian 12 (pkg-config module msgpack),
# libmsgpack-c-dev from Debian 13 (msgpack-c 6, module msgpack-c).  Either
# will do; which one to install is decided after the index is updated.
need_msgpack=0
if ! installed libmsgpack-c-dev && ! installed libmsgpack-dev; then need_msgpack=1; fi
[ -z "$missing" ] && [ $need_msgpack = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    [ $need_msgpack = 1 ] && missing="$missing libmsgpack-c-dev (or libmsgpack-dev)"
    echo "install-deps: run as root, or install:$missing" >&2; exit 1; fi
else SUDO=""; fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
if [ $need_msgpack = 1 ]; then
  if apt-cache show libmsgpack-c-dev >/dev/null 2>&1; then
    missing="$missing libmsgpack-c-dev"
  else
    missing="$missing libmsgpack-dev"
  fi
fi
echo "install-deps: installing:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
