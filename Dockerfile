# yunxiao-flow-exporter container image: the exporter and the Flow API simulator.
#
# Build:  podman build --format docker -t yunxiao-flow-exporter .     (or docker build)
#         (--format docker keeps the HEALTHCHECK; OCI images have none)
# Run:    podman run -d -p 9847:9847 \
#           -v ./config.yaml:/etc/yunxiao-flow-exporter/config.yaml:ro \
#           -v ./token:/run/secrets/yunxiao-token:ro \
#           yunxiao-flow-exporter
#         with api.token_file: /run/secrets/yunxiao-token in config.yaml (or pass the
#         token as YUNXIAO_TOKEN, which ends up in `inspect` output: prefer the file).
# Simulator: podman run --entrypoint /usr/local/bin/flow-simulator yunxiao-flow-exporter \
#           --web.listen-address=:9848 --token=... --organization-id=... --pipelines=12
# deploy/container-test.sh builds this image without a registry and tests it.

ARG BUILD_IMAGE=docker.io/library/debian:bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------------------- build
FROM ${BUILD_IMAGE} AS build
# The context has no .git: the revision for yunxiao_flow_exporter_build_info comes in as
# a build argument (container-test.sh passes `git rev-parse --short=12 HEAD`).
ARG REVISION=unknown
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates cmake g++ make pkg-config \
      prometheus-cpp-dev libcurl4-openssl-dev libyaml-cpp-dev rapidjson-dev \
      libcpp-httplib-dev libboost-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Only the two binaries are built (tests and benchmarks are off), stripped, into /out/bin.
# The exporter has an install() rule; the simulator is copied from the build tree.
RUN cmake -S . -B build -DYFE_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DYFE_GIT_REVISION="${REVISION}" \
 && cmake --build build --parallel "$(nproc)" \
 && cmake --install build --prefix /out --strip \
 && for bin in yunxiao-flow-exporter flow-simulator; do \
      if [ ! -x "/out/bin/$bin" ]; then \
        found="$(find build -type f -name "$bin" -perm -u+x | head -n 1)"; \
        [ -n "$found" ] || { echo "$bin was not built" >&2; exit 1; }; \
        install -D -m 0755 -s "$found" "/out/bin/$bin"; \
      fi; \
    done \
 && ls -l /out/bin

# -------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="yunxiao-flow-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Alibaba Cloud Yunxiao Flow (CI/CD pipelines)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Runtime libraries only (no -dev packages, no compiler); the ldd check below fails the
# build if a binary needs a library that is not here.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libprometheus-cpp-core1.0 libyaml-cpp0.7 \
      libcpp-httplib0.11 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
           /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
 && groupadd --system --gid 65532 yfe \
 && useradd --system --uid 65532 --gid yfe --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin yfe \
 && mkdir -p /etc/yunxiao-flow-exporter \
 && install -d -m 0700 -o 65532 -g 65532 /var/lib/yunxiao-flow-exporter

COPY --from=build /out/bin/yunxiao-flow-exporter /out/bin/flow-simulator /usr/local/bin/
RUN missing="$(ldd /usr/local/bin/yunxiao-flow-exporter /usr/local/bin/flow-simulator | grep 'not found' || true)"; \
    if [ -n "$missing" ]; then echo "missing runtime libraries:" >&2; echo "$missing" >&2; exit 1; fi; \
    /usr/local/bin/yunxiao-flow-exporter --version

USER 65532:65532
WORKDIR /etc/yunxiao-flow-exporter
EXPOSE 9847

# bookworm-slim has no curl or wget: bash's /dev/tcp sends the request. Plain HTTP on
# 127.0.0.1:${HEALTHCHECK_PORT:-9847}; with --web.config.file (TLS) or another listen
# port, set HEALTHCHECK_PORT or override/disable the health check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HEALTHCHECK_PORT:-9847} && printf 'GET /-/healthy HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

ENTRYPOINT ["/usr/local/bin/yunxiao-flow-exporter"]
CMD ["--config.file=/etc/yunxiao-flow-exporter/config.yaml"]
