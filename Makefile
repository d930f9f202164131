# iothub-emulator: `make run` starts the emulator, `make test` runs every test.
GO        ?= go
BIN       := bin/iothub-emulator
GOFILES   := $(shell find . -name '*.go' -not -path './compat/*' -not -path './examples/*' 2>/dev/null)

.PHONY: run build loadgen bench test test-go test-race fuzz compat lint clean

run: build
	./$(BIN)

build: $(BIN)

# The load generator: simulated devices against a running hub.
loadgen: bin/iothub-loadgen

bin/iothub-loadgen: $(GOFILES) go.mod go.sum
	$(GO) build -o $@ ./cmd/iothub-loadgen

# bench: the benchmarks that compare the emulator with a baseline measured
# in the same run, printed as ratios (see docs/performance.md).
bench:
	@out=$$(mktemp); status=0; \
	$(GO) test -run '^$$' -bench 'TelemetryToEventHubs' -benchtime 20000x ./emulator >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'C2DSendAMQPvsREST' ./emulator >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'TagEquality|ReportedRange|GroupBy' ./query >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'AppendWithConsumers' ./d2c >>$$out 2>&1 || status=1; \
	$(GO) run ./internal/benchratio <$$out || status=1; rm -f $$out; exit $$status

# test: every Go test (with the race detector), the fuzz seeds, then the
# official SDK suites (Python and Node) against the built binary.
test: test-go compat

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# Short fuzzing runs of every parser; the seed corpora already run in test-go.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for fn in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$fn"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@test -z "$$(gofmt -l $(GOFILES))" || (gofmt -l $(GOFILES); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin

include compat/compat.mk
