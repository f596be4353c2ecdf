# syntax=docker/dockerfile:1
# twinwire-hub: owns twins by shard, applies commands, fans events out (admin port 9090: /metrics, /alive, /ready)
#
# Build from the repository root (the whole workspace is the build context):
#   docker build -f deploy/docker/hub.Dockerfile -t twinwire-hub .
# hub.Dockerfile.dockerignore beside this file keeps target/ and other local state out.

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
    cargo build --release --locked -p twinwire-hub --bin twinwire-hub \
 && install -D -m 0755 target/release/twinwire-hub /out/twinwire-hub

FROM debian:${DEBIAN_RELEASE}-slim
# A fixed non-root uid/gid (the Helm chart's podSecurityContext uses the same), no home, no shell
# login. No packages are added: TLS to JWT issuers uses the root certificates compiled into the
# binary (webpki-roots), and health checks use bash's /dev/tcp.
RUN groupadd --system --gid 10001 twinwire \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin twinwire
COPY --from=builder /out/twinwire-hub /usr/local/bin/twinwire-hub
USER 10001:10001
EXPOSE 9090
# Configuration: --config FILE (TOML/YAML) and TWINWIRE_<SECTION>__<KEY> variables.
ENTRYPOINT ["/usr/local/bin/twinwire-hub"]
