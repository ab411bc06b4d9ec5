#!/usr/bin/env bash
# Installs what Svyaz needs on Debian 12 (idempotent; works as root or through sudo):
# nats-server, libnats-dev, libsqlite3-dev from apt; nats-py, msgpack, pytest into ./.venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(nats-server libnats-dev libsqlite3-dev pkg-config python3)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
command -v swift >/dev/null 2>&1 || { echo "setup: Swift 6.x toolchain not found on PATH (install it from swift.org)"; exit 1; }
command -v nats-server >/dev/null 2>&1 || export PATH="/usr/sbin:$PATH"

PY_PACKAGES=(nats-py msgpack pytest)
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
if ! .venv/bin/python -c 'import nats, msgpack, pytest' >/dev/null 2>&1; then
  echo "setup: installing ${PY_PACKAGES[*]} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
