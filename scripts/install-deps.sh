#!/usr/bin/env bash
# Installs the Debian packages acto needs, only those that are missing.
# Called by `make demo`, `make test` and `make bench`; safe to run again.
set -eu
PKGS="pkg-config cmake make gcc libevent-dev libmsgpack-dev check libsubunit-dev libssl-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: run as root, or install:$missing" >&2; exit 1; fi
else SUDO=""; fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
