#!/usr/bin/env bash
# `make helm-check` (and part of `make test`): the chart linted and rendered by the real helm, and
# every rendered manifest validated strictly (unknown fields rejected) against the Kubernetes API
# schemas of the oldest version the chart supports (Chart.yaml `kubeVersion`) and the newest one
# the pinned kubernetes-validate knows. Rendered: the defaults with a Redis URL, and every
# helm/twinwire/ci/*.yaml. Kinds Kubernetes has no schema for (the Prometheus Operator's) are
# listed by name; any other kind without a schema fails, since it means a wrong apiVersion.
# helm and kubernetes-validate are installed into .tools/ by deploy/helm-tools/install.sh.
#
# values.yaml against values.schema.json and the chart README, and the chart's config blocks against
# the real binaries, are checked by tests/tests/operations.rs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
chart="$root/helm/twinwire"
"$here/helm-tools/install.sh"
helm="$root/.tools/bin/helm"
validate="$root/.tools/venv/bin/kubernetes-validate"
python="$root/.tools/venv/bin/python"

# Kinds that have no schema in Kubernetes itself; validated by nobody here, and said so.
no_schema_ok='^monitoring\.coreos\.com/v1 (ServiceMonitor|PodMonitor|PrometheusRule)$'

oldest="$(sed -n 's/^kubeVersion: *"*>= *\([0-9]*\.[0-9]*\)\.[0-9]*.*$/\1/p' "$chart/Chart.yaml")"
newest="$("$python" -c 'from kubernetes_validate import utils; print(utils.major_minor(utils.latest_version()))')"
if [ -z "$oldest" ]; then
  echo "helm-check: no '>=' lower bound found in Chart.yaml kubeVersion" >&2
  exit 1
fi
if ! "$python" -c 'import sys; from kubernetes_validate import utils
sys.exit(0 if sys.argv[1] in [utils.major_minor(v) for v in utils.all_versions()] else 1)' "$oldest"; then
  echo "helm-check: kubernetes-validate has no schema for Kubernetes $oldest (Chart.yaml kubeVersion)" >&2
  exit 1
fi
kube_versions=("$oldest.0" "$newest.0")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
renders=0
declare -A unvalidated=()
fail() { echo "helm-check: FAIL: $*" >&2; failed=1; }

# One case: a name and helm's values arguments.
check() {
  local name="$1"; shift
  local kv out
  for kv in "${kube_versions[@]}"; do
    if ! "$helm" lint --strict --quiet --kube-version "$kv" "$chart" "$@" >"$work/lint" 2>&1; then
      cat "$work/lint" >&2
      fail "helm lint --strict, $name, Kubernetes $kv"
      continue
    fi
    out="$work/${name//\//_}-$kv.yaml"
    if ! "$helm" template tw "$chart" --namespace twinwire --kube-version "$kv" "$@" >"$out" 2>"$work/err"; then
      cat "$work/err" >&2
      fail "helm template, $name, Kubernetes $kv"
      continue
    fi
    renders=$((renders + 1))
    local docs
    docs="$(grep -c '^kind: ' "$out" || true)"
    if ! "$validate" --strict --quiet -k "$kv" "$out" >"$work/validate" 2>&1; then
      sed "s|$out|$name|" "$work/validate" >&2
      fail "$name does not validate against Kubernetes $kv"
    fi
    # kubernetes-validate only warns about a kind it has no schema for.
    while read -r api kind; do
      if [[ "$api $kind" =~ $no_schema_ok ]]; then
        unvalidated["$kind ($api)"]=1
      else
        fail "$name: no Kubernetes $kv schema for $kind ($api)"
      fi
    done < <(sed -n "s/.*Couldn't find schema for kind \([^ ]*\) with api version \([^ ]*\) .*/\2 \1/p" "$work/validate")
    if [ "$failed" -eq 0 ] && grep -v "Couldn't find schema" "$work/validate" | grep -q .; then
      sed "s|$out|$name|" "$work/validate" >&2
      fail "$name: kubernetes-validate reported more than missing schemas, Kubernetes $kv"
    fi
    echo "helm-check: $name, Kubernetes $kv: linted, $docs manifests rendered and validated"
  done
}

check defaults --set redis.url=redis://redis.example:6379/0
for values in "$chart"/ci/*.yaml; do
  check "ci/$(basename "$values")" --values "$values"
done

# Configurations the gateway would refuse must fail the render, not the pod.
if "$helm" template tw "$chart" --set redis.url=redis://r:6379 \
    --set gateway.terminationGracePeriodSeconds=5 >/dev/null 2>&1; then
  fail "a grace period shorter than the drain rendered; it must fail"
fi
if no_redis="$("$helm" template tw "$chart" 2>&1)"; then
  fail "the chart rendered without any Redis; it must fail naming redis.url"
elif [[ "$no_redis" != *redis.url* ]]; then
  fail "the chart refused to render without Redis but did not name redis.url: $no_redis"
fi

if [ "$failed" -ne 0 ]; then
  echo "helm-check: FAILED" >&2
  exit 1
fi
echo "helm-check: passed: $("$helm" version --short), kubernetes-validate $("$validate" --version), $renders renders against Kubernetes ${kube_versions[*]} (strict)"
if [ "${#unvalidated[@]}" -gt 0 ]; then
  echo "helm-check: not validated, no schema in Kubernetes: $(printf '%s\n' "${!unvalidated[@]}" | sort | paste -sd, | sed 's/,/, /g')"
fi
