#!/usr/bin/env bash
# `make run`: Redis on 127.0.0.1:6380 (AOF under .data/), one hub and two gateways
# (ws://127.0.0.1:8080/ws/2 and ws://127.0.0.1:8081/ws/2, user ditto / password ditto). Shows their
# logs; Ctrl-C stops everything it started.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${TW_BIN_DIR:-$root/target/release}"
data="$root/.data"
mkdir -p "$data"
cd "$root"

pids=()
redis_pid=""
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  # Gateways drain and the hub hands its leases back while Redis is still there; then Redis.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# Each process writes through a prefixing `sed` in a process substitution, so that `$!` is the
# process itself (with a pipeline it would be `sed`, and a TERM would leave the process running).
redis-server "$here/redis.conf" --dir "$data" > >(sed -u 's/^/[redis] /') 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
  redis-cli -p 6380 ping >/dev/null 2>&1 && break
  sleep 0.1
done

"$bin/twinwire-hub" --config "$here/hub.toml" > >(sed -u 's/^/[hub] /') 2>&1 &
pids+=($!)
"$bin/twinwire-gateway" --config "$here/gateway.toml" > >(sed -u 's/^/[gw1] /') 2>&1 &
pids+=($!)
TWINWIRE_HTTP__PORT=8081 TWINWIRE_ADMIN__PORT=9081 "$bin/twinwire-gateway" --config "$here/gateway.toml" > >(sed -u 's/^/[gw2] /') 2>&1 &
pids+=($!)

echo "twinwire is up: ws://127.0.0.1:8080/ws/2 and ws://127.0.0.1:8081/ws/2 (user ditto, password ditto); Ctrl-C stops it"
wait
