# docker-workspace — build, install, test.
#   make demo   build, install, bring up an engine and the image if none, ensure and list a demo workspace
#   make test   lint, unit tests, then e2e tests on real engines (brought up if none answers)
#   make docs   the command reference of docs/reference, from the cobra tree

SHELL      := /bin/bash
GO         ?= go
BIN        := bin/docker-workspace
PLUGIN_DIR := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
META       := github.com/docker-workspace/docker-workspace/cmd/docker-workspace/internal/meta
LDFLAGS    := -s -w -X $(META).version=$(VERSION) -X $(META).commit=$(COMMIT)
UNIT_PKGS   = $(shell $(GO) list ./... | grep -v /e2e)
# golangci-lint, pinned, built once into bin/tools (the gates: .golangci.yml).
GOLANGCI_VERSION := v2.15.0
GOLANGCI         := bin/tools/golangci-lint-$(GOLANGCI_VERSION)

.PHONY: all build install unit e2e test lint docs docs-check engines engines-down demo bench bench-engine clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-workspace

install: build
	mkdir -p $(PLUGIN_DIR)
	install -m 0755 $(BIN) $(PLUGIN_DIR)/docker-workspace
	@echo "installed $(PLUGIN_DIR)/docker-workspace: try 'docker workspace --help'"

unit:
	$(GO) test -count=1 -race $(UNIT_PKGS)

# The e2e tests drive the real docker CLI against real engines: both must
# answer (scripts/engines.sh brings them up where it can).
e2e: engines
	$(GO) test -count=1 -timeout 20m -v ./e2e/

# CI's command. Lint (golangci-lint is built from source the first time)
# runs beside the rest at the lowest CPU priority, its output printed when
# all has ended; the engines come up while the unit tests run; then the
# e2e tests run on them. It fails when any part fails.
test:
	@mkdir -p bin; nice -n 19 $(MAKE) --no-print-directory lint >bin/lint.log 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory -j2 --output-sync=target engines unit && $(MAKE) --no-print-directory e2e; rc=$$?; \
	wait $$lint; lrc=$$?; echo "== make lint (exit $$lrc)"; cat bin/lint.log; \
	[ $$rc -eq 0 ] && [ $$lrc -eq 0 ]

lint: $(GOLANGCI) docs-check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI) run ./...

$(GOLANGCI):
	mkdir -p bin/tools
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv bin/tools/golangci-lint $@

# The command reference: usage and flags between the markers of each page of
# docs/reference, from the cobra tree; what is around them is written by hand.
docs:
	$(GO) run ./docs/generate docs/reference

# Fails when docs/reference is not what `make docs` writes.
docs-check:
	@tmp=$$(mktemp -d) && cp docs/reference/*.md $$tmp/ && $(GO) run ./docs/generate $$tmp 2>/dev/null && \
	  if ! diff -ru docs/reference $$tmp; then rm -rf $$tmp; echo "docs/reference is stale: run make docs"; exit 1; fi; rm -rf $$tmp

engines:
	bash scripts/engines.sh up modern legacy ssh swarm

engines-down:
	bash scripts/engines.sh down

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./sandbox/...

# The commands against docker's own on a real engine (docs/development.md
# has the targets and the latest figures): cold ensure through the library
# (e2e BenchmarkCold), then each script.
bench-engine: install engines
	$(GO) test -run '^$$' -bench Cold -benchtime 20x ./e2e/
	bash scripts/bench-warm.sh 30
	bash scripts/bench-cold.sh 20
	bash scripts/bench-many.sh 60
	bash scripts/bench-ls.sh 200
	bash scripts/bench-exec.sh 30
	bash scripts/bench-stats.sh 200 3

demo: install
	bash scripts/engines.sh up modern
	docker workspace ensure demo
	docker workspace ls --filter subdir=demo
	@echo
	@echo "Next: docker workspace exec demo sh -c 'echo hello from \$$PWD'"

clean:
	rm -rf bin
