# Multi-stage build: a static binary in a distroless, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/nantian ./server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nantian /usr/local/bin/nantian
ENV APP_ENV=production HTTP_ADDR=:8080 UPLOAD_DIR=/data/uploads
VOLUME ["/data/uploads"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["/usr/local/bin/nantian", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/nantian"]
CMD ["serve"]
