# syntax=docker/dockerfile:1
# kurento-exporter image: the daemon (`kurento-exporter`) and the KMS simulator
# (`kms-sim`), built with the locked dependencies and run as a non-root user on
# a distroless glibc base (no shell, no package manager).
#   docker build -t kurento-exporter .
#   docker run --rm -p 9787:9787 kurento-exporter --kms kms-1=ws://KMS:8888/kurento
#   docker run --rm --entrypoint /usr/local/bin/kms-sim kurento-exporter --listen 0.0.0.0:8888
# TLS to KMS (wss://) uses rustls with built-in web PKI roots: no CA bundle needed.
# Built with the `cluster` feature (members sharing a fleet through etcd, README
# "Running several members (cluster)"; off unless [cluster] endpoints is set):
# its etcd client generates gRPC code with protoc at build time.

# The oldest Rust the locked dependencies build with (uuid 1.29 needs 1.89;
# the cluster feature's tonic 0.14 needs 1.88).
ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
# protoc for the etcd client's generated code (feature `cluster`).
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
# The git revision on kurento_exporter_build_info (.git is not in the build
# context): docker build --build-arg KURENTO_EXPORTER_REVISION=$(git rev-parse --short=12 HEAD) .
ARG KURENTO_EXPORTER_REVISION=unknown
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kurento-exporter -p kms-sim --features cluster \
      --bin kurento-exporter --bin kms-sim \
 && install -D -m 0755 target/release/kurento-exporter /out/usr/local/bin/kurento-exporter \
 && install -D -m 0755 target/release/kms-sim /out/usr/local/bin/kms-sim \
 && install -D -m 0644 deploy/kurento-exporter.toml /out/etc/kurento-exporter/kurento-exporter.toml \
 && install -d -m 0750 /out/var/lib/kurento-exporter

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/usr/local/bin/ /usr/local/bin/
COPY --from=builder /out/etc/kurento-exporter/ /etc/kurento-exporter/
# State directory for the reaper's audit log (mount a volume here).
COPY --from=builder --chown=65532:65532 /out/var/lib/kurento-exporter/ /var/lib/kurento-exporter/
WORKDIR /var/lib/kurento-exporter
# distroless "nonroot": uid/gid 65532.
USER 65532:65532
EXPOSE 9787
ENTRYPOINT ["/usr/local/bin/kurento-exporter"]
CMD ["--config", "/etc/kurento-exporter/kurento-exporter.toml"]
