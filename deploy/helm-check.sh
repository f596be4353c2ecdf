#!/usr/bin/env bash
# `make helm-check`: `helm lint` the chart and validate what it renders against Kubernetes' own
# schemas (`kubernetes-validate --strict`, which rejects unknown fields), once per values file in
# helm/twinwire/ci/. Where helm is not installed this says so and checks nothing: exit 0, or 1 with
# HELM_CHECK_REQUIRED=1 (for a CI that has helm and must not skip silently).
#
# values.yaml against values.schema.json, and the chart's config blocks against the real binaries,
# are checked without helm by tests/tests/operations.rs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
chart="$root/helm/twinwire"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema known.
kube_versions=(${HELM_CHECK_KUBE_VERSIONS:-1.25.0 1.30.0 1.37.0})

if ! command -v helm >/dev/null 2>&1; then
  echo "helm-check: NOT RUN: helm is not installed here, so the chart was neither linted nor rendered." >&2
  [ "${HELM_CHECK_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
fi

validate=(kubernetes-validate)
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  # A private virtualenv: Debian's Python refuses system-wide pip installs (PEP 668).
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/twinwire/helm-check-venv"
  if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "helm-check: installing kubernetes-validate into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet kubernetes-validate
  fi
  validate=("$venv/bin/kubernetes-validate")
fi

failed=0
for values in "$chart"/ci/*-values.yaml; do
  name="$(basename "$values")"
  echo "helm-check: $name"
  if ! helm lint --strict "$chart" --values "$values"; then
    failed=1
    continue
  fi
  for kv in "${kube_versions[@]}"; do
    # The sleep preStop action exists from Kubernetes 1.30 on.
    if [ "$name" = everything-values.yaml ] && [ "$(echo "$kv" | cut -d. -f2)" -lt 30 ]; then
      continue
    fi
    if ! helm template twinwire "$chart" --namespace twinwire --values "$values" --kube-version "$kv" \
        | "${validate[@]}" --strict --quiet -k "$kv" -; then
      echo "helm-check: $name does not validate against Kubernetes $kv" >&2
      failed=1
    fi
  done
done
# A configuration the gateway would refuse must fail the render, not the pod.
if helm template twinwire "$chart" --set redis.url=redis://r:6379 \
    --set gateway.terminationGracePeriodSeconds=5 >/dev/null 2>&1; then
  echo "helm-check: a grace period shorter than the drain rendered; it must fail" >&2
  failed=1
fi
if helm template twinwire "$chart" >/dev/null 2>&1; then
  echo "helm-check: the chart rendered without any Redis; it must fail naming redis.url" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "helm-check: FAILED" >&2
  exit 1
fi
echo "helm-check: chart lints and validates (Kubernetes ${kube_versions[*]})"
