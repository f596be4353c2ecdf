#!/usr/bin/env bash
# Installs what running, testing and benchmarking twinwire needs and is missing: Debian packages
# (after one `apt-get update`, skipped when this script ran one in the last hour, so that `make test`
# calling it for several tools updates once). Each argument is `tool:package`, where tool is a
# command on PATH or an absolute path of a file the package installs. Safe to run repeatedly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

want_pkgs=()
for spec in "$@"; do
  tool="${spec%%:*}"; pkg="${spec##*:}"
  if [ "${tool#/}" != "$tool" ]; then
    [ -e "$tool" ] || want_pkgs+=("$pkg")
  elif ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    want_pkgs+=("$pkg")
  fi
done
if [ "${#want_pkgs[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${want_pkgs[*]}"
  stamp="$root/.tools/apt-updated"
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    $sudo apt-get update -qq
    mkdir -p "$root/.tools" && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want_pkgs[@]}" >/dev/null
fi
