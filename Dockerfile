# Static, non-root image: docker build -t bindtester . && docker run --env-file .env bindtester
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bindtester ./cmd/bindtester

# distroless/static: CA certificates and tzdata, no shell, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bindtester /bindtester
USER nonroot:nonroot
ENTRYPOINT ["/bindtester"]
CMD ["run"]
