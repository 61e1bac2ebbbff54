# Builds payorch's binaries (worker, apiserver and the operator CLI payorchctl, built from starter/) into one small image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./worker \
 && CGO_ENABLED=0 go build -trimpath -o /out/apiserver ./apiserver \
 && CGO_ENABLED=0 go build -trimpath -o /out/payorchctl ./starter

FROM alpine:3.20 AS payorch
RUN adduser -D -u 10001 payorch
COPY --from=build /out/ /usr/local/bin/
USER payorch
