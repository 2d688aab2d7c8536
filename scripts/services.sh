#!/usr/bin/env bash
# Makes this machine ready for the whole test suite: installs only what is
# missing (PostgreSQL, Redis, Chromium, Node.js from Debian), starts only
# what is not answering, and prints the TEST_* variables to export.
# Usage: eval "$(scripts/services.sh)"
set -euo pipefail

log() { echo "services: $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# The race detector needs cgo, so a C compiler; make runs the suite.
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
own_pg=""   # set when this script installed or started PostgreSQL itself
if [ ${#missing[@]} -gt 0 ]; then
  [[ " ${missing[*]} " == *" postgresql "* ]] && own_pg=1
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

# A caller's own TEST_DATABASE_URL / TEST_REDIS_URL are kept, and then
# nothing is started or created for them.
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    own_pg=1
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    pg_isready -h 127.0.0.1 -p 5432 >&2
  fi
  # The test role is a superuser with a known password (tests create and
  # drop databases and roles): create it only on CI's throwaway machines, on
  # a PostgreSQL this script installed or started, or when asked; never
  # silently on a developer's own running server.
  if ! $SUDO runuser -u postgres -- psql -tAq -c "SELECT 1 FROM pg_roles WHERE rolname='app'" 2>/dev/null | grep -q 1; then
    if [ -z "${CI:-}" ] && [ -z "$own_pg" ] && [ -z "${SERVICES_CREATE_ROLE:-}" ]; then
      log "no PostgreSQL role app: set TEST_DATABASE_URL to a database server of your own, or run with SERVICES_CREATE_ROLE=1 to create role app (SUPERUSER, password app) on the server at 127.0.0.1:5432"
      exit 1
    fi
    log "creating PostgreSQL role app"
    $SUDO runuser -u postgres -- psql -q -c "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'app'" >&2
  fi
fi

if [ -z "${TEST_REDIS_URL:-}" ]; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
    for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.25; done
    redis-cli -h 127.0.0.1 -p 6379 ping >&2
  fi
fi

# --- Pebble (Let's Encrypt's ACME test server) for the HTTPS tests (internal/platform/certs/certstest)
gobin="$(go env GOPATH 2>/dev/null)/bin"
if ! command -v pebble >/dev/null 2>&1 && [ ! -x "$gobin/pebble" ]; then
  log "installing pebble"
  go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 >&2
fi

echo "export TEST_DATABASE_URL='${TEST_DATABASE_URL:-postgres://app:app@127.0.0.1:5432/postgres?sslmode=disable}'"
echo "export TEST_REDIS_URL='${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}'"

# --- promtool, for `make alerts` (deploy/alerts.yml) and the metrics lint
# test (issue 12). Debian's prometheus package carries it.
if ! command -v promtool >/dev/null 2>&1; then
  log "installing prometheus (for promtool)"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >&2
fi

# ---- GoReleaser (release configuration check; issue 11) ----
# `make test` runs `goreleaser check` when it is installed. A cold
# `go install` takes about 6 minutes on 2 cores, so CI (CI set) does not
# install it: there `make release-check` validates .goreleaser.yaml with
# GoReleaser's own config loader (tools/releasecheck) in seconds. Elsewhere
# it is installed once; when present this costs one `command -v`.
GORELEASER_VERSION=v2.15.1
if ! command -v goreleaser >/dev/null 2>&1 && [ ! -x "$(go env GOPATH 2>/dev/null)/bin/goreleaser" ]; then
  if [ -n "${CI:-}" ]; then
    log "goreleaser not installed; CI checks the release config with its loader (make release-check)"
  elif command -v go >/dev/null 2>&1; then
    log "installing goreleaser $GORELEASER_VERSION (once, about 6 minutes)"
    go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION" >&2
  fi
fi

# ---- Deploy and image tests (issue 11) ----
# deploy/ checks the systemd units with systemd-analyze (required on CI);
# tools/image ships Debian's CA certificates in the container images.
ship_missing=()
command -v systemd-analyze >/dev/null 2>&1 || ship_missing+=(systemd)
[ -f /etc/ssl/certs/ca-certificates.crt ] || ship_missing+=(ca-certificates)
if [ ${#ship_missing[@]} -gt 0 ]; then
  log "installing ${ship_missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${ship_missing[@]}" >&2
fi

# --- stripe-mock (Voyager billing, issue 10) --------------------------------
# Stripe's API wire format with canned fixtures, for the billing tests. Installed
# with `go install` when missing, started in the background on fixed loopback
# ports when not answering; the tests read TEST_STRIPE_URL.
STRIPE_MOCK_HTTP=12111
STRIPE_MOCK_HTTPS=12112
stripe_mock_bin=$(command -v stripe-mock 2>/dev/null || true)
if [ -z "$stripe_mock_bin" ]; then
  stripe_mock_bin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin/stripe-mock"
fi
if [ ! -x "$stripe_mock_bin" ]; then
  log "installing stripe-mock"
  go install github.com/stripe/stripe-mock@latest >&2
fi
# Answering = accepting connections (bash's /dev/tcp; curl may be missing).
stripe_mock_up() { (exec 3<>"/dev/tcp/127.0.0.1/$STRIPE_MOCK_HTTP") 2>/dev/null; }
if ! stripe_mock_up; then
  log "starting stripe-mock on 127.0.0.1:$STRIPE_MOCK_HTTP"
  nohup "$stripe_mock_bin" -http-addr "127.0.0.1:$STRIPE_MOCK_HTTP" -https-addr "127.0.0.1:$STRIPE_MOCK_HTTPS" >/dev/null 2>&1 &
  for _ in $(seq 1 60); do stripe_mock_up && break; sleep 0.25; done
  stripe_mock_up || { log "stripe-mock did not answer on 127.0.0.1:$STRIPE_MOCK_HTTP"; exit 1; }
fi
echo "export TEST_STRIPE_URL=http://127.0.0.1:$STRIPE_MOCK_HTTP"
