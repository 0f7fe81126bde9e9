# syntax=docker/dockerfile:1
# The manager image, for those who build with Docker:
#   docker build -t registry.example.com/dataverse-access-operator:v0.1.0 .
# `make image` builds the same image without a container engine (hack/image), and both hold the
# same file tree, written by the same code (hack/image's RootFS): /manager (static, with its CA
# roots compiled in), /etc/passwd and /etc/group naming root and nonroot (65532), all owned by
# root; the image runs as 65532:65532 with /manager as its entrypoint. To compare the two trees:
#   docker export "$(docker create registry.example.com/dataverse-access-operator:v0.1.0)" | go run ./hack/image tree -
#   go run ./hack/image tree -layout dist/image/oci -platform linux/amd64
# They list the same paths, modes and owners. The manager's size can differ by a few bytes: make
# image's binary records the VCS revision in its build info, this one (no .git in the context) does
# not. The digests differ too (layer timestamps, labels); make image's is the reproducible one.
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
COPY hack/image/ hack/image/
# The flags of make image's build (hack/image buildManager), CPU baselines included.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} GOAMD64=v1 GOARM64=v8.0 \
    go build -trimpath -ldflags="-s -w" -o /out/manager .
# The image's file tree, laid out by the code that lays make image's layer.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go run ./hack/image rootfs -binary /out/manager -out /rootfs

# No base image: no shell, no package manager, no root. Only what hack/image rootfs wrote.
FROM scratch
COPY --from=builder /rootfs/ /
USER 65532:65532
ENTRYPOINT ["/manager"]
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dataverse-access-operator" \
      org.opencontainers.image.source="https://github.com/accessplane/dataverse-access-operator" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
