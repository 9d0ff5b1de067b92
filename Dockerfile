# syntax=docker/dockerfile:1
# Container image of tokenrotator: a static binary on a distroless base that
# runs as a non-root user and brings CA certificates and time zone data.
#   docker build --build-arg VERSION=v1.2.3 -t tokenrotator:v1.2.3 .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The timetzdata tag embeds the time zone database, so schedules with a
# time zone work even where the base image lacks /usr/share/zoneinfo.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata \
    -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/tokenrotator ./cmd/tokenrotator
# An empty state directory owned by the runtime user, so that a new volume
# mounted there starts with that owner.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenrotator /usr/local/bin/tokenrotator
COPY --from=build --chown=65532:65532 /out/state /var/lib/tokenrotator
# The default directory of file sinks, for a volume mounted there to start
# with the runtime user as owner.
COPY --from=build --chown=65532:65532 /out/state /run/tokenrotator
# The journal of unsaved values and pending revocations lives here. Keep it
# on a volume, so that a restart resumes what was in flight.
VOLUME ["/var/lib/tokenrotator"]
# /metrics, /healthz and /readyz. The daemon listens on 127.0.0.1:9464 unless
# the policy sets listen, so set listen: 0.0.0.0:9464 to reach it from outside
# the container.
EXPOSE 9464
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tokenrotator"]
CMD ["run", "--config", "/etc/tokenrotator/config.yaml"]
