# twinwire: `make run` starts Redis, a hub and two gateways; `make test` installs what it needs,
# builds once and runs every test. See README.md.

SHELL := /bin/bash
CARGO ?= cargo
DEBIAN_DEPS := redis-server:redis-server redis-cli:redis-tools

.PHONY: run run-cluster build build-release test test-deps lint fmt clippy bench clean helm-check fuzz

build:
	$(CARGO) build --workspace --bins

build-release:
	$(CARGO) build --release --workspace --bins

# Ports and packages first, so that a taken port or a missing package shows before minutes of
# building. With a terminal, `set -m` gives run.sh its own process group, the terminal's foreground
# one: Ctrl-C then reaches run.sh alone, which drains everything and exits 0, rather than make too,
# which would end with the interrupt (130). Bash runs a recipe's last command with exec, so
# run.sh must not be the last, or it would stay in make's process group.
run:
	@deploy/local/run.sh --check-ports
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS)
	$(CARGO) build --release --workspace --bins
	@if { true </dev/tty; } 2>/dev/null; then set -m; fi; deploy/local/run.sh; status=$$?; exit $$status

# `make run` on a local Redis Cluster: three primaries and three replicas on 127.0.0.1:7000-7005
# (`redis-cli --cluster create`), one hub and the same two gateways; Ctrl-C stops everything.
run-cluster:
	@deploy/local/run.sh --cluster --check-ports
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS)
	$(CARGO) build --release --workspace --bins
	@if { true </dev/tty; } 2>/dev/null; then set -m; fi; deploy/local/run.sh --cluster; status=$$?; exit $$status

# Debian packages in one go (one apt-get update; headless Chromium for the browser check of
# tests/tests/resume_browser.rs), then the Node packages of the JS client tests, the Python client
# tests' venv (tests/python/.venv) and the chart check's helm and kubernetes-validate
# (deploy/helm-tools, into .tools/).
test-deps:
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS) node:nodejs npm:npm nginx:nginx \
		prometheus:prometheus promtool:prometheus python3:python3 \
		/usr/bin/chromium-headless-shell:chromium-headless-shell
	@cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	@tests/python/install.sh
	@deploy/helm-tools/install.sh

# The benchmark scenarios of BENCHMARKS.md against release builds, with the peers (Socket.IO and
# nchan) installed here; figures land in target/bench/ (JSON and the latency/throughput PNG).
# BENCH_ARGS: e.g. `--quick`, `--only fanout,peers,floor,commands,slow,idle` (on a Redis Cluster:
# `fanout-cluster`, `commands-cluster`; issues 13 and 16: `latency`, `tokens-cost`, `replay`),
# `--subs 1000`, `--idle 20000`, `--step-secs 10`, `--backlog 20000`. A full run: an estimated 20 min.
BENCH_DEPS := redis-benchmark:redis-tools node:nodejs npm:npm nginx:nginx-core \
	/usr/lib/nginx/modules/ngx_nchan_module.so:libnginx-mod-nchan \
	/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core
bench: build-release
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS) $(BENCH_DEPS)
	@cd tests/bench/socketio && npm ci --no-audit --no-fund --loglevel=error
	target/release/twinwire-bench $(BENCH_ARGS)
	target/release/twinwire-bench plot

# One compilation: the binaries and every test target in one cargo invocation, so that features
# are unified once (with the dev-dependencies) and the test run's own build finds it all fresh;
# `cargo build --bins` alone would resolve other features and compile the workspace a second time.
# Then the chart check and every test (unit and end-to-end) against those binaries.
# The core end-to-end suite, run a second time on a Redis Cluster (tests/src/redis_cluster.rs):
# things, events with filters, policies, messages and live, acknowledgements, the JS client,
# resume tokens (WebSocket and Server-Sent Events), shared subscriptions, search and twin history.
CLUSTER_SUITE := things policies live acks js_client resume resume_sse shared_subscriptions \
	search history
test: test-deps
	$(CARGO) build --workspace --bins --tests
	@deploy/helm-check.sh
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; status=$$?; \
		TWINWIRE_TEST_REDIS=cluster $(CARGO) nextest run --workspace --no-fail-fast \
			$(foreach t,$(CLUSTER_SUITE),--test $(t)) || status=1; exit $$status; \
	else \
		$(CARGO) test --workspace --no-fail-fast; status=$$?; \
		TWINWIRE_TEST_REDIS=cluster $(CARGO) test --workspace --no-fail-fast \
			$(foreach t,$(CLUSTER_SUITE),--test $(t)) || status=1; exit $$status; \
	fi

# The property-based fuzzing of the parsers of client input (common/tests/fuzz_parsers.rs) at length:
# `make test` runs it with a few cases per property, this with FUZZ_CASES (default 20000) each (the
# test build: its dependencies are optimised, and the stall bound is generous).
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test -p twinwire-common --test fuzz_parsers

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The chart linted and rendered by the real helm, every manifest validated strictly against the
# Kubernetes schemas of the oldest and newest supported versions (tools installed into .tools/).
helm-check:
	deploy/helm-check.sh

clean:
	$(CARGO) clean
	rm -rf .data .tools tests/js/node_modules deploy/helm-tools/node_modules
