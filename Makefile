# The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin
# VERSION is the release tag when HEAD is exactly at one (or given: make
# build VERSION=v1.2.3); otherwise the binaries report the commit they were
# built from, which Go stamps into them (see internal/platform/version).
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null)
LDFLAGS := -s -w $(if $(VERSION),-X github.com/relaywork/suite/internal/platform/version.tag=$(VERSION))

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
	  $(MAKE) --no-print-directory release-check && \
	  $(GO) test -race -count=1 -timeout 20m ./... && \
	  scripts/fuzz.sh

bench: build
	@eval "$$(scripts/services.sh)" && bench/run.sh

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
# page's download links expect, with checksums.txt and latest.json: point
# RUNNER_DOWNLOAD_DIR at bin/release (or copy it to a runner folder beside coda).
.PHONY: runner-release
RUNNER_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
runner-release:
	@mkdir -p $(BIN)/release
	@rm -f $(BIN)/release/coda-runner-*
	@for t in $(RUNNER_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "coda-runner-$$os-$$arch$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o $(BIN)/release/coda-runner-$$os-$$arch$$ext ./cmd/coda-runner || exit 1; \
	done
	@$(GO) run ./tools/runnerdist -dir $(BIN)/release -version $(or $(VERSION),$$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev))

# ---- Releases (.goreleaser.yaml; docs/deploy.md "Release files") ----
# goreleaser is installed by scripts/services.sh when missing (outside CI).
GORELEASER ?= $(shell command -v goreleaser 2>/dev/null || echo $$($(GO) env GOPATH)/bin/goreleaser)
.PHONY: release-check release-snapshot release images

# Checks the release configuration, building nothing: `goreleaser check`
# where goreleaser is installed, and always GoReleaser's own strict loader
# with this project's expectations (tools/releasecheck, its own module).
release-check:
	@if [ -x "$(GORELEASER)" ]; then $(GORELEASER) check -q; else echo "release-check: goreleaser not installed; using its config loader only"; fi
	@cd tools/releasecheck && $(GO) test -count=1 ./...

# A full local release into dist/: archives, checksums.txt, changelog, the
# runner folder (dist/runner) and the container images (dist/images).
release-snapshot:
	CGO_ENABLED=0 $(GORELEASER) release --snapshot --clean
	$(GO) run ./tools/image -dist dist

# The real release from a tag vX.Y.Z (GITHUB_TOKEN set): publishes the
# archives as a draft, then writes the images to dist/images to push.
release:
	CGO_ENABLED=0 $(GORELEASER) release --clean
	GIT_COMMIT=$$(git rev-parse HEAD) $(GO) run ./tools/image -dist dist

images:
	$(GO) run ./tools/image -dist dist

# Fuzzing (docs/operations.md, "Fuzzing"): every FuzzXxx target in the
# module, found automatically. `make test` runs them briefly (a shared
# budget of FUZZ_BUDGET seconds); `make fuzz FUZZTIME=5m` digs longer.
.PHONY: fuzz
fuzz:
	scripts/fuzz.sh
