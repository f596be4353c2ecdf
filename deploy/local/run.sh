#!/usr/bin/env bash
# `make run`: Redis on 127.0.0.1:6380 (AOF under .data/), one hub and two gateways
# (ws://127.0.0.1:8080/ws/2 and ws://127.0.0.1:8081/ws/2, user ditto / password ditto), their logs
# prefixed with the process's name. "up" is printed only once every process answers ready. Ctrl-C
# or SIGTERM drains the gateways, stops the hub, then Redis, and exits 0; a process that dies, or a
# port that is taken, ends it with a non-zero exit naming what failed.
#
# `run.sh --cluster` (`make run-cluster`) starts a Redis Cluster instead of the one Redis: three
# primaries and three replicas on 127.0.0.1:7000-7005 (cluster bus +10000, data under
# .data/cluster/), joined by `redis-cli --cluster create` on the first run, with the same hub and
# gateway ports; Ctrl-C stops them too.
#
# `run.sh --check-ports` only checks that the ports are free (make runs it before building).
# TW_BIN_DIR, TW_RUN_DATA and TW_RUN_PORTS ("redis hub-admin gw1 gw1-admin gw2 gw2-admin") move the
# binaries, data and ports elsewhere, TW_RUN_CLUSTER_PORTS the six Redis Cluster nodes
# (tests/tests/make_run.rs runs this script that way).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${TW_BIN_DIR:-$root/target/release}"
data="${TW_RUN_DATA:-$root/.data}"
read -r p_redis p_hub p_gw1 p_gw1_admin p_gw2 p_gw2_admin <<<"${TW_RUN_PORTS:-6380 9090 8080 9080 8081 9081}"
cluster=0
if [ "${1:-}" = --cluster ]; then
  cluster=1
  shift
fi
read -r -a cluster_ports <<<"${TW_RUN_CLUSTER_PORTS:-7000 7001 7002 7003 7004 7005}"

# name:port of everything this starts, in start order.
if [ "$cluster" = 1 ]; then
  ports=()
  for p in "${cluster_ports[@]}"; do ports+=(redis-$p:$p redis-$p-bus:$((p + 10000))); done
  ports+=(hub-admin:$p_hub gw1:$p_gw1 gw1-admin:$p_gw1_admin gw2:$p_gw2 gw2-admin:$p_gw2_admin)
else
  ports=(redis:$p_redis hub-admin:$p_hub gw1:$p_gw1 gw1-admin:$p_gw1_admin gw2:$p_gw2 gw2-admin:$p_gw2_admin)
fi

# Something accepting connections on a loopback port (bash's /dev/tcp: no curl or nc needed).
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports() {
  local p taken=0
  for p in "${ports[@]}"; do
    if listening "${p##*:}"; then
      echo "make run: port ${p##*:} (${p%%:*}) is already in use on 127.0.0.1; is another \`make run\` up?" >&2
      taken=1
    fi
  done
  return "$taken"
}

# HTTP status of GET /ready on an admin port, or nothing.
ready_status() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
  printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS=' ' read -r -t 2 _ line _ <&3 || true
  exec 3<&-
  echo "$line"
}

if [ "${1:-}" = --check-ports ]; then
  check_ports
  exit
fi
check_ports || exit 1
mkdir -p "$data"
cd "$root"

declare -A pid_name=()
gw_pids=() hub_pids=() redis_pids=()
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  echo "make run: stopping: gateways drain, then the hub hands its shards back, then Redis"
  # Gateways drain while the hub and Redis are still there; then the hub; Redis last.
  local group p
  for group in gw hub redis; do
    local -a these=()
    case $group in
      gw) these=("${gw_pids[@]}") ;;
      hub) these=("${hub_pids[@]}") ;;
      redis) these=("${redis_pids[@]}") ;;
    esac
    for p in "${these[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${these[@]}"; do wait "$p" 2>/dev/null || true; done
  done
  # Let the log prefixers print the last lines.
  sleep 0.2
}
on_signal() {
  trap '' INT TERM
  stop_all
  echo "make run: stopped"
  exit 0
}
trap on_signal INT TERM
trap 'status=$?; stop_all >/dev/null; exit $status' EXIT

# Each process runs in its own session (setsid), so a Ctrl-C on the terminal reaches only this
# script, which stops them in order. Its output goes through a prefixing `sed` that ignores INT and
# TERM, so the drain's logs still show, and that sits in a process substitution, so `$!` is the
# process itself (setsid execs it).
start() {
  local name="$1"; shift
  setsid "$@" > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pid_name[$!]="$name"
}
# Whether a started process has died (its name is printed).
dead() {
  local p
  for p in "${!pid_name[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      wait "$p" 2>/dev/null && status=0 || status=$?
      echo "make run: ${pid_name[$p]} exited (status $status) before it was ready; see its log above" >&2
      return 0
    fi
  done
  return 1
}
deadline=$((SECONDS + 60))
redis_env=()
if [ "$cluster" = 1 ]; then
  nodes=()
  for p in "${cluster_ports[@]}"; do
    mkdir -p "$data/cluster/$p"
    start "redis-$p" redis-server "$here/redis.conf" --dir "$data/cluster/$p" --port "$p" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
    redis_pids+=($!)
    nodes+=("redis://127.0.0.1:$p")
  done
  for p in "${cluster_ports[@]}"; do
    until redis-cli -p "$p" ping >/dev/null 2>&1; do
      if dead; then exit 1; fi
      sleep 0.1
    done
  done
  # The first run joins the nodes; later runs find them joined (nodes.conf under .data/cluster/).
  if ! redis-cli -p "${cluster_ports[0]}" cluster info | grep -q '^cluster_known_nodes:6'; then
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") \
      --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  until redis-cli -p "${cluster_ports[0]}" cluster info | grep -q '^cluster_state:ok'; do
    if dead; then exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "make run-cluster: the Redis Cluster did not become ok within 60 s" >&2
      exit 1
    fi
    sleep 0.2
  done
  redis_url="$(IFS=,; echo "${nodes[*]}")"
  redis_env=(TWINWIRE_REDIS__MODE=cluster TWINWIRE_REDIS__NODES="$redis_url")
else
  start redis redis-server "$here/redis.conf" --dir "$data" --port "$p_redis"
  redis_pids+=($!)
  redis_url="redis://127.0.0.1:$p_redis/"
  redis_env=(TWINWIRE_REDIS__URL="$redis_url")
fi
start hub env "${redis_env[@]}" TWINWIRE_ADMIN__PORT="$p_hub" \
  "$bin/twinwire-hub" --config "$here/hub.toml"
hub_pids+=($!)
start gw1 env "${redis_env[@]}" TWINWIRE_HTTP__PORT="$p_gw1" TWINWIRE_ADMIN__PORT="$p_gw1_admin" \
  "$bin/twinwire-gateway" --config "$here/gateway.toml"
gw_pids+=($!)
start gw2 env "${redis_env[@]}" TWINWIRE_HTTP__PORT="$p_gw2" TWINWIRE_ADMIN__PORT="$p_gw2_admin" \
  "$bin/twinwire-gateway" --config "$here/gateway.toml"
gw_pids+=($!)

# Ready means: Redis answers PING (the cluster's state is ok), and the hub and both gateways
# answer 200 on /ready.
waits=(hub:$p_hub gw1:$p_gw1_admin gw2:$p_gw2_admin)
[ "$cluster" = 1 ] || waits=(redis:$p_redis "${waits[@]}")
for what in "${waits[@]}"; do
  name="${what%%:*}" port="${what##*:}"
  until if [ "$name" = redis ]; then redis-cli -p "$port" ping >/dev/null 2>&1; else [ "$(ready_status "$port")" = 200 ]; fi; do
    if dead; then exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "make run: $name did not become ready within 60 s" >&2
      exit 1
    fi
    sleep 0.1
  done
done

cat <<UP
make run: twinwire is up (user ditto, password ditto); Ctrl-C stops it
  WebSocket  ws://127.0.0.1:$p_gw1/ws/2   ws://127.0.0.1:$p_gw2/ws/2
  HTTP API   http://127.0.0.1:$p_gw1/api/2   http://127.0.0.1:$p_gw2/api/2
  admin      http://127.0.0.1:$p_gw1_admin/metrics (gw1)   http://127.0.0.1:$p_gw2_admin/metrics (gw2)   http://127.0.0.1:$p_hub/metrics (hub)
  Redis      $redis_url (AOF in ${data#"$root"/}/$([ "$cluster" = 1 ] && echo cluster/))
UP

# Runs until a signal (on_signal exits 0) or until a process dies on its own (exit 1).
wait -n -p ended "${!pid_name[@]}" && status=0 || status=$?
echo "make run: ${pid_name[$ended]:-a process} exited (status $status); stopping the rest" >&2
exit 1
