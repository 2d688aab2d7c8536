# The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/relaywork/suite/internal/platform/app.Version=$(VERSION)

.PHONY: run build assets web-deps test vet bench clean envexample

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web-deps: web/node_modules/.package-lock.json

assets: web-deps
	$(GO) run ./tools/assets

build: assets
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Runs coda on :3000 and voyager on :3001 on embedded SQLite under ./data.
# Ctrl-C stops both; if one cannot start, the other is stopped too.
run: build
	@scripts/run.sh $(BIN)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal tools web bench 2>/dev/null)" || (gofmt -l cmd internal tools web bench; echo "gofmt needed"; exit 1)

# The whole suite: vet, race detector, SQLite and PostgreSQL stores, Redis,
# browser tests. Services are installed and started when missing.
test: assets
	@eval "$$(scripts/services.sh)" && \
	  $(MAKE) --no-print-directory vet && \
	  $(MAKE) --no-print-directory alerts && \
	  $(GO) test -race -count=1 -timeout 20m ./... && \
	  scripts/fuzz.sh

bench: build
	bench/run.sh

# Prometheus alert rules (deploy/alerts.yml) and their unit tests;
# promtool comes with Debian's prometheus package (scripts/services.sh).
.PHONY: alerts
alerts:
	promtool check rules deploy/alerts.yml
	promtool test rules deploy/alerts_test.yml

envexample:
	$(GO) run ./tools/envexample

clean:
	rm -rf $(BIN) web/dist/assets web/dist/manifest.json

# Static runner binaries for every supported platform, named as the DevMode
# page's download links expect under RUNNER_DOWNLOAD_BASE.
.PHONY: runner-release
RUNNER_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
runner-release:
	@mkdir -p $(BIN)/release
	@for t in $(RUNNER_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "coda-runner-$$os-$$arch$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' \
	    -o $(BIN)/release/coda-runner-$$os-$$arch$$ext ./cmd/coda-runner || exit 1; \
	done

# Fuzzing (docs/operations.md, "Fuzzing"): every FuzzXxx target in the
# module, found automatically. `make test` runs them briefly (a shared
# budget of FUZZ_BUDGET seconds); `make fuzz FUZZTIME=5m` digs longer.
.PHONY: fuzz
fuzz:
	scripts/fuzz.sh
