# scopegate: the two commands a newcomer needs are `make demo` and `make test`.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: all build help test e2e lint fmt-check tidy-check vet staticcheck unit promtool redis image demo bench load fuzz clean

all: build

## help: list the targets, with what each does.
help:
	@grep -E '^## [a-z0-9-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z0-9-]+): /  \1\t/' | expand -t 12

## build: bin/scopegate, static, version-stamped.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/scopegate ./cmd/scopegate

## test: everything CI runs: formatting, vet, staticcheck, promtool, redis-server for the Redis tests, every test with -race.
test: lint promtool redis unit

## lint: gofmt, go mod tidy -diff (both modules), go vet and staticcheck only.
lint: fmt-check tidy-check vet staticcheck

fmt-check:
	@out=$$(git ls-files -co --exclude-standard '*.go' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# go.mod and go.sum say exactly what the code needs, in both modules.
tidy-check:
	$(GO) mod tidy -diff
	cd test/interop && $(GO) mod tidy -diff

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

## unit: go test -race of every package (what make test runs after lint and promtool).
unit:
	$(GO) test -race -count=1 -timeout 10m $(PKGS)

## e2e: scopegate against real authorization servers (Ory Hydra, built once
## into test/interop/.cache; panva's oidc-provider, needs node and npm) and
## the official OpenAI Go SDK, and the MCP Go SDK (client with its OAuth support,
## server behind the gateway). A separate Go module: see test/interop.
e2e:
	cd test/interop && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

## promtool: check deploy/prometheus (config, rules, rule unit tests); installs
## Debian's prometheus package for promtool when missing and run as root (CI).
promtool:
	deploy/prometheus/check.sh

## redis: make sure redis-server is there for the Redis tests (they start their own); installs
## Debian's redis-server package when missing and run as root (CI).
redis:
	deploy/redis/install.sh

IMAGE ?= scopegate:$(VERSION)

## image: the container image (deploy/Dockerfile); needs a running Docker engine.
image:
	@if ! docker info >/dev/null 2>&1; then \
	  echo "make image: no Docker engine reachable (docker info failed): start one, or build elsewhere."; \
	  echo "The static build and non-root run are tested without one: go test ./deploy/ -run TestStaticBinary"; \
	  exit 1; \
	fi
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## demo: a local issuer, a mock model API and the gateway on 127.0.0.1:8080 (admin :9090).
demo:
	$(GO) run ./cmd/scopegate demo

## bench: Go benchmarks of the hot path (see docs/performance.md): token verification per
## algorithm with and without the cache, route matching at 10/1,000/10,000 routes, and the
## whole middleware chain against a bare httputil.ReverseProxy (cache hit, fresh ES256, RS256).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./policy/ ./gateway/...

## load: scopegate vs a bare httputil.ReverseProxy under load, in alternation, in one run;
## prints throughput, p50/p99/p999, CPU per request, RSS and SSE TTFB, writes docs/performance.svg.
LOADFLAGS ?=
load: build
	$(GO) run ./test/load -bin bin/scopegate $(LOADFLAGS)

## fuzz: run every fuzz target for FUZZTIME each (seeds live under testdata/fuzz).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## clean: remove bin/ and dist/.
clean:
	rm -rf bin dist
