#!/usr/bin/env bash
# Builds the worker's base root filesystem offline, from the Debian packages of the apt
# mirror this machine is already configured with (no image registry needed).
#
# Usage: build-base.sh OUTPUT.tar
# Env:   DROVER_APT_SOURCES  apt sources file to use (default: the host's Debian sources)
#        DROVER_SUITE        Debian suite (default: the host's VERSION_CODENAME)
#
# drover imports OUTPUT.tar with the Docker API; this script never talks to Docker.
set -euo pipefail

out=${1:?usage: build-base.sh OUTPUT.tar}

# The package set every worker needs: a shell and the usual tools agents call, git,
# ripgrep for search, python3 (+pytest) and a C toolchain for building projects; socat
# carries a sandbox's proxy connections to drover, curl is what agents fetch with.
packages=(
  bash ca-certificates coreutils findutils grep sed gawk diffutils patch procps less
  git ripgrep python3 python3-pytest python3-pip python3-venv build-essential tini file xz-utils
  socat curl
)

sources=${DROVER_APT_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -qE '^[^#]*(URIs:|deb )' "$f"; then sources=$f; break; fi
  done
fi
[ -n "$sources" ] || { echo "build-base.sh: no Debian apt sources found (set DROVER_APT_SOURCES)" >&2; exit 3; }

suite=${DROVER_SUITE:-}
if [ -z "$suite" ] && [ -r /etc/os-release ]; then
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
[ -n "$suite" ] || { echo "build-base.sh: cannot tell the Debian suite (set DROVER_SUITE)" >&2; exit 3; }

if command -v mmdebstrap >/dev/null 2>&1; then
  # Documentation, man pages and locales are dead weight in a worker.
  exec mmdebstrap --variant=apt --mode=auto --format=tar \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" "$out" "$sources" </dev/null
fi

if command -v debootstrap >/dev/null 2>&1; then
  mirror=$(grep -hoE '(https?://[^ ]+)' "$sources" | grep -v security | head -n1)
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    "$suite" "$root" "$mirror" >&2
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/doc/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*
  tar -C "$root" --numeric-owner -cf "$out" .
  exit 0
fi

echo "build-base.sh: neither mmdebstrap nor debootstrap is installed (apt-get install mmdebstrap)" >&2
exit 3
