# Static, non-root image: docker build -t bindtester . && docker run --env-file .env bindtester
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bindtester ./cmd/bindtester \
 && mkdir -p /out/data

# distroless/static: CA certificates and tzdata, no shell, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bindtester /bindtester
# The SQLite database (audit log, grants, approvals) and its key file live here: mount a volume.
COPY --from=build --chown=65532:65532 /out/data /data
ENV BINDTESTER_DB=/data/bindtester.db
VOLUME /data
USER nonroot:nonroot
ENTRYPOINT ["/bindtester"]
CMD ["run"]
