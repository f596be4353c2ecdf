# syntax=docker/dockerfile:1
# twinwire-gateway: Ditto's WebSocket binding (public port 8080: /ws/2, /ws/1, /api/2; admin port 9080: /metrics, /alive, /ready)
#
# Build from the repository root (the whole workspace is the build context):
#   docker build -f deploy/docker/gateway.Dockerfile -t twinwire-gateway .
# gateway.Dockerfile.dockerignore beside this file keeps target/ and other local state out.

# The builder matches the runtime's Debian release, so the binary's glibc is the one it runs on.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artefacts between builds; the binary is copied out of
# the cached target directory because cache mounts do not persist into the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p twinwire-gateway --bin twinwire-gateway \
 && install -D -m 0755 target/release/twinwire-gateway /out/twinwire-gateway

FROM debian:${DEBIAN_RELEASE}-slim
# A fixed non-root uid/gid (the Helm chart's podSecurityContext uses the same), no home, no shell
# login. No packages are added: TLS to JWT issuers uses the root certificates compiled into the
# binary (webpki-roots), and health checks use bash's /dev/tcp.
RUN groupadd --system --gid 10001 twinwire \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin twinwire
COPY --from=builder /out/twinwire-gateway /usr/local/bin/twinwire-gateway
USER 10001:10001
EXPOSE 8080 9080
# Configuration: --config FILE (TOML/YAML) and TWINWIRE_<SECTION>__<KEY> variables.
ENTRYPOINT ["/usr/local/bin/twinwire-gateway"]
