# syntax=docker/dockerfile:1
# The manager image: a static binary on distroless, running as the non-root user 65532.
#   docker build -t registry.example.com/dataverse-access-operator:v0.1.0 .
#   make deploy IMG=registry.example.com/dataverse-access-operator:v0.1.0
# GO_VERSION follows the go directive of go.mod (the e2e tests check that it does).
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY *.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/manager .

# No shell, no package manager, no root: only the binary and CA certificates.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
