#!/usr/bin/env bash
# Installs the official Eclipse Ditto Python client (PyPI `ditto-client`, with every dependency
# pinned in requirements.txt) into tests/python/.venv, for tests/tests/python_client.rs. Debian
# ships venv's ensurepip apart (python3-venv): installed only when missing. Skips the install when
# the venv already holds exactly these requirements.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"

if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  stdlib="$("$python" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
  "$root/deploy/local/ensure-deps.sh" "$stdlib/ensurepip/__init__.py:python3-venv"
fi
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$venv/installed-requirements.txt"; then
  exit 0
fi
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --require-virtualenv -r "$here/requirements.txt"
"$venv/bin/python" -m pip check >/dev/null
cp "$here/requirements.txt" "$venv/installed-requirements.txt"
