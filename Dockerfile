# A small static image of the emulator.
#   docker build -t iothub-emulator .
#   docker run --rm -p 127.0.0.1:8883:8883 -p 127.0.0.1:443:443 -p 127.0.0.1:5671:5671 -p 127.0.0.1:5672:5672 -p 127.0.0.1:8080:8080 -v iothub-data:/data iothub-emulator
# The CA to trust: curl -s http://127.0.0.1:8080/emulator/ca.pem > ca.pem
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/iothub-emulator ./cmd/iothub-emulator \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /out/iothub-emulator /iothub-emulator
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
EXPOSE 8883 443 5671 5672 1883 8080
# Inside the container the emulator must listen on every interface for the
# published ports to reach it; publish them on the host's loopback
# (-p 127.0.0.1:8883:8883 ...) to keep the hub private to the machine.
ENTRYPOINT ["/iothub-emulator", "serve", "--bind", "0.0.0.0", "--data-dir", "/data"]
