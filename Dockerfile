# kvstream: one image for both binaries.
#
#   docker build -t kvstream:local .
#   docker run --rm kvstream:local --help                                  # the consumer
#   docker run --rm --entrypoint kvstream-producer kvstream:local --help   # the producer
#
# Build and runtime stages use the same pinned Debian snapshot, so the runtime
# libraries are exactly the versions the binaries were linked against.
# scripts/check-deploy checks this file statically (no Docker engine needed).

ARG DEBIAN_TAG=bookworm-20260202

# ---- build ------------------------------------------------------------------
FROM debian:${DEBIAN_TAG} AS build

# Every apt-get layer removes the package lists and the downloaded .deb files
# itself (`apt-get clean`): the image stays small on any Debian base, also one
# without the official images' apt settings that delete them.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
      librdkafka-dev libpqxx-dev libpq-dev robin-map-dev libspdlog-dev libfmt-dev \
      libboost-dev nlohmann-json3-dev prometheus-cpp-dev libcli11-dev libssl-dev \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# The binaries go to /stage/usr/local/bin through CMake's install rules
# (stripped), and the runtime stage copies that tree.
RUN cmake --preset release -B /build -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build --target kvstream-consumer kvstream-producer \
 && DESTDIR=/stage cmake --install /build --strip

# ---- runtime ----------------------------------------------------------------
FROM debian:${DEBIAN_TAG}-slim AS runtime

# Only the shared libraries the binaries link (their own dependencies come
# along); no HTTP client: the health check speaks HTTP through bash.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libpqxx-6.4 libpq5 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libssl3 \
      ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 kvstream \
 && useradd --system --uid 10001 --gid kvstream --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin kvstream

COPY --from=build /stage/usr/local/bin/ /usr/local/bin/
COPY deploy/docker/kvstream-healthcheck /usr/local/bin/kvstream-healthcheck

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["kvstream-healthcheck", "/healthz"]
ENTRYPOINT ["kvstream-consumer"]
