# syntax=docker/dockerfile:1
#
# The thebutton binary in a small image without a shell:
#   docker build -t thebutton:local .
#   docker run --rm thebutton:local help
# compose.yaml builds it as the thebutton service.

# Build stage: a static binary (no cgo), so the runtime image needs no libc.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-buildvcs=false
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/thebutton ./cmd/thebutton \
 && mkdir -p /out/data

# Runtime stage: CA certificates (Discord's HTTPS) and time zones, no shell,
# user nonroot (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/thebutton /usr/local/bin/thebutton
# DATA_DIR for the embedded NATS server, used when NATS_URL is empty.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Defaults for a container; compose.yaml and `docker run -e` override them.
ENV DATA_DIR=/data HTTP_ADDR=0.0.0.0:8080 NATS_LISTEN=0.0.0.0:4333 LOG_FORMAT=json
USER 65532:65532
# 8080: web pages, /metrics, /healthz, /readyz (HTTP_ADDR=0.0.0.0:8080).
# 4333: the embedded NATS server's clients (NATS_LISTEN=0.0.0.0:4333).
EXPOSE 8080 4333
ENTRYPOINT ["thebutton"]
CMD ["run"]
