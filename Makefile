# ivrd — build, run, test.
#
#   make run     build and start ivrd on loopback with configs/ivrd.yaml and flows/
#   make test    install the test peers (sipp, baresip, espeak-ng, sox, chromium), lint (go vet, staticcheck) and run every test
#   make lint    go vet and staticcheck only
#   make bench   per-packet benchmarks and the sipp load runs
#   make call    call the running ivrd with baresip (type digits, q to quit)

GO      ?= go
BIN     := bin/ivrd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS    := ./...
# Debian packages the tests drive as real peers.
TEST_DEBS := sip-tester baresip-core espeak-ng sox debootstrap chromium
RUN_DEBS  := espeak-ng

# staticcheck, pinned (2026.2.2 supports the Go of go.mod), installed by
# `go install` into the git-ignored .cache/ on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := .cache/staticcheck/$(STATICCHECK_VERSION)/staticcheck

.PHONY: all build run test deps test-deps lint bench call vet fmt clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ivrd

run: deps build
	@echo
	@echo "ivrd is starting: SIP on udp/tcp 127.0.0.1:5060, HTTP API on http://127.0.0.1:8080"
	@echo "  call it:      make call              (baresip; dial 3900 for French, 3901 for English)"
	@echo "  or with sipp: sipp -sf tools/sipp/call.xml -s 3900 -m 1 -i 127.0.0.1 -p 0 127.0.0.1:5060"
	@echo "  no phone:     $(BIN) simulate accueil-fr"
	@echo
	$(BIN) serve

deps:
	@scripts/install-deps.sh $(RUN_DEBS)

test-deps:
	@scripts/install-deps.sh $(TEST_DEBS) && scripts/asterisk.sh prepare
	$(GO) mod download

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

test: test-deps lint
	$(GO) test -count=1 -timeout 15m $(PKGS)

bench: test-deps build
	$(GO) test -run '^$$' -bench . -benchmem ./media/ ./sip/ ./recordings/...
	scripts/load.sh
	scripts/purge-load.sh
	scripts/bridge-load.sh

call:
	@scripts/call.sh $(NUMBER)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
