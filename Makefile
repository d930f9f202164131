# iothub-emulator: `make run` starts the emulator, `make test` runs every test.
GO        ?= go
BIN       := bin/iothub-emulator
GOFILES   := $(shell find . -name '*.go' -not -path './compat/*' -not -path './examples/*' 2>/dev/null)

.PHONY: run build test test-go test-race fuzz compat lint clean

run: build
	./$(BIN)

build: $(BIN)

$(BIN): $(GOFILES) go.mod go.sum
	$(GO) build -o $(BIN) ./cmd/iothub-emulator

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
