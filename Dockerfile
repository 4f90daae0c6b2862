# Builds the endpoints-controller image: `make docker-build IMG=...`.

# The build stage compiles a static binary. BuildKit sets TARGETOS and
# TARGETARCH from --platform (by default, the build machine's); where a builder
# leaves them empty, Go builds for linux on the build machine's architecture.
#
# Both base images are pinned by digest (the tag only names it for readers):
# a tag moves, and an image rebuilt from the same source must not silently
# get another compiler or another base. Update the pins together, on purpose:
#   crane digest golang:1.26; crane digest gcr.io/distroless/static:nonroot
# (or docker buildx imagetools inspect). test/config checks that every FROM
# is pinned.
FROM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS builder
ARG TARGETOS
ARG TARGETARCH
# VERSION and REVISION are stamped into the binary; `make docker-build` passes
# `git describe` and the commit.
ARG VERSION=dev
ARG REVISION=unknown

WORKDIR /workspace

# Dependencies first, in their own layer, so that a source change does not
# download every module again.
COPY go.mod go.sum ./
RUN go mod download

# Only what the binary is built from; tests, config and tools stay out.
COPY cmd/ cmd/
COPY internal/ internal/

# CGO off gives a static binary that runs on distroless/static; -trimpath and
# -s -w keep build paths and debug symbols out of the image.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/kube-endpoints/endpoints-controller/internal/version.Version=${VERSION} -X github.com/kube-endpoints/endpoints-controller/internal/version.Revision=${REVISION}" \
      -o endpoints-controller ./cmd/endpoints-controller

# The runtime image: no shell, no package manager, a non-root user (65532).
FROM gcr.io/distroless/static:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="endpoints-controller" \
      org.opencontainers.image.description="Writes core/v1 Endpoints for every Service with a selector" \
      org.opencontainers.image.source="https://github.com/kube-endpoints/endpoints-controller" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /
COPY --from=builder /workspace/endpoints-controller /endpoints-controller
USER 65532:65532

ENTRYPOINT ["/endpoints-controller"]
