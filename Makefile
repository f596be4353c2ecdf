# twinwire: `make run` starts Redis, a hub and two gateways; `make test` installs what it needs,
# builds once and runs every test. See README.md.

SHELL := /bin/bash
CARGO ?= cargo
DEBIAN_DEPS := redis-server:redis-server redis-cli:redis-tools

.PHONY: run build build-release test test-deps lint fmt clippy bench clean helm-check fuzz

build:
	$(CARGO) build --workspace --bins

build-release:
	$(CARGO) build --release --workspace --bins

run: build-release
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS)
	deploy/local/run.sh

test-deps:
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS) node:nodejs npm:npm nginx:nginx \
		prometheus:prometheus promtool:prometheus
	@cd tests/js && npm ci --no-audit --no-fund --loglevel=error

# The benchmark scenarios of BENCHMARKS.md against release builds, with the peers (Socket.IO and
# nchan) installed here; figures land in target/bench/ (JSON and the latency/throughput PNG).
# BENCH_ARGS: e.g. `--quick`, `--only fanout,peers,floor,commands,slow,idle`, `--subs 1000`, `--idle 20000`.
BENCH_DEPS := redis-benchmark:redis-tools node:nodejs npm:npm nginx:nginx-core \
	/usr/lib/nginx/modules/ngx_nchan_module.so:libnginx-mod-nchan \
	/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core
bench: build-release
	@deploy/local/ensure-deps.sh $(DEBIAN_DEPS) $(BENCH_DEPS)
	@cd tests/bench/socketio && npm ci --no-audit --no-fund --loglevel=error
	target/release/twinwire-bench $(BENCH_ARGS)
	target/release/twinwire-bench plot

# One build of the binaries, then every test (unit and end-to-end) against it.
test: test-deps build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
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

# Lints the Helm chart and validates its manifests (needs helm; says plainly when it is missing).
helm-check:
	deploy/helm-check.sh

clean:
	$(CARGO) clean
	rm -rf .data tests/js/node_modules
