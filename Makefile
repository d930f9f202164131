# iothub-emulator: `make run` starts the emulator, `make test` runs every test.
GO        ?= go
BIN       := bin/iothub-emulator
GOFILES   := $(shell find . -name '*.go' -not -path './compat/*' -not -path './examples/*' 2>/dev/null)

.PHONY: run build loadgen bench test test-go test-race fuzz compat lint clean chromium

run: build
	./$(BIN)

build: $(BIN)

$(BIN): $(GOFILES) go.mod go.sum
	$(GO) build -o $(BIN) ./cmd/iothub-emulator

# The load generator: simulated devices against a running hub.
loadgen: bin/iothub-loadgen

bin/iothub-loadgen: $(GOFILES) go.mod go.sum
	$(GO) build -o $@ ./cmd/iothub-loadgen

# bench: the benchmarks that compare the emulator with a baseline measured
# in the same run, printed as ratios (see docs/performance.md). The scale
# rows populate a fleet of SCALE_TWINS twins through /emulator/import
# first; `make bench SCALE_TWINS=5000` runs them smaller.
SCALE_TWINS ?= 100000
SCALE_CONNS ?= 1000
bench:
	@out=$$(mktemp); status=0; \
	SCALE_TWINS=$(SCALE_TWINS) SCALE_CONNS=$(SCALE_CONNS) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./internal/scalebench >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'TelemetryToEventHubs' -benchtime 20000x ./emulator >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'C2DSendAMQPvsREST' ./emulator >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'TagEquality|ReportedRange|GroupBy' ./query >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'TwinQuery' -benchtime 10x ./hub >>$$out 2>&1 || status=1; \
	$(GO) test -run '^$$' -bench 'AppendWithConsumers' ./d2c >>$$out 2>&1 || status=1; \
	$(GO) run ./internal/benchratio <$$out || status=1; rm -f $$out; exit $$status

# test: every Go test (with the race detector), the fuzz seeds, then the
# official SDK suites (Python, Node and Java) against the built binary.
test: test-go compat

test-go: chromium
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# chromium: the dashboard's browser tests (ui/browser_test.go) drive
# headless Chromium. As root it is installed from the distribution's
# packages when missing; otherwise CI fails here, and a developer's run
# skips those tests with a note saying how to install it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium for the dashboard's browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		elif [ "$$CI" = true ]; then \
			echo "make test: the dashboard's browser tests need chromium: run as root (it is then installed with apt-get) or install it: apt-get install -y chromium"; \
			exit 1; \
		else \
			echo "note: chromium is not installed, so the dashboard's browser tests will skip (install it: sudo apt-get install -y chromium)"; \
		fi; \
	}

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
