# Multi-stage build: a static binary in a distroless, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/nantian ./server
# distroless has no shell to mkdir with; the upload dir is made here and copied
# owned by nonroot, because a volume mounted on a path the image lacks is created
# owned by root and the API could not write photos to it.
RUN mkdir -p /out/data/uploads

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nantian /usr/local/bin/nantian
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV APP_ENV=production HTTP_ADDR=:8080 UPLOAD_DIR=/data/uploads
VOLUME ["/data/uploads"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 CMD ["/usr/local/bin/nantian", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/nantian"]
CMD ["serve"]
