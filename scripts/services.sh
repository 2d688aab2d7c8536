#!/usr/bin/env bash
# Makes this machine ready for the whole test suite: installs only what is
# missing (PostgreSQL, Redis, Chromium, Node.js from Debian), starts only
# what is not answering, and prints the TEST_* variables to export.
# Usage: eval "$(scripts/services.sh)"; `scripts/services.sh stop` stops
# the private PostgreSQL it started (see below).
set -euo pipefail

log() { echo "services: $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# A caller's own TEST_DATABASE_URL / TEST_REDIS_URL are kept, and then
# nothing is started or created for them.
#
# Otherwise the tests get a private PostgreSQL cluster of their own under
# this checkout (.cache/pg, or SERVICES_PG_DIR): initdb'd once, listening on
# 127.0.0.1 only, on a free port outside the ephemeral range, no Unix socket,
# password authentication with a random password kept beside it (mode 0600).
# Its superuser `app` exists only in that cluster (the tests create and drop
# databases and roles, and cut connections), so no known-password role is
# ever created on a PostgreSQL server the machine already runs.
# `scripts/services.sh stop` stops it; deleting .cache/pg removes it.
here="$(cd "$(dirname "$0")/.." && pwd)"
pg_dir="${SERVICES_PG_DIR:-$here/.cache/pg}"
pg_bin() {
  local ver
  ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$ver" ] || { log "PostgreSQL's server binaries are not under /usr/lib/postgresql"; exit 1; }
  echo "/usr/lib/postgresql/$ver/bin"
}
# initdb and the server refuse to run as root: as root they run as postgres.
pg_as=()
pg_owner="$(id -un)"
if [ "$(id -u)" = 0 ]; then pg_as=(runuser -u postgres --); pg_owner=postgres; fi
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for p in $(seq 15432 15531); do port_free "$p" && { echo "$p"; return; }; done
  log "no free port in 15432-15531 for the test PostgreSQL"; exit 1
}
# The server, run as postgres, must reach the folder: a checkout under a
# home folder it cannot enter (/root) gets its cluster under /var/tmp.
if [ "$(id -u)" = 0 ] && [ -z "${SERVICES_PG_DIR:-}" ] && ! runuser -u postgres -- test -x "$here" 2>/dev/null; then
  pg_dir="/var/tmp/suite-pg-$(printf '%s' "$here" | md5sum | cut -c1-12)"
fi
pg_running() { "${pg_as[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; }

if [ "${1:-}" = stop ]; then
  if [ -f "$pg_dir/data/PG_VERSION" ] && pg_running; then
    "${pg_as[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m fast -w stop >&2
  fi
  exit 0
fi

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# The race detector needs cgo, so a C compiler; make runs the suite.
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  bin="$(pg_bin)"
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $pg_dir"
    rm -rf "$pg_dir"
    mkdir -p "$pg_dir"
    chmod 0755 "$pg_dir"
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pg_dir/password")
    install -m 0600 -o "$pg_owner" "$pg_dir/password" "$pg_dir/pwfile"
    install -d -m 0700 -o "$pg_owner" "$pg_dir/data"
    "${pg_as[@]}" "$bin/initdb" -D "$pg_dir/data" -U app --pwfile="$pg_dir/pwfile" \
      --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 ||
      { cat "$pg_dir/initdb.log" >&2; rm -f "$pg_dir/pwfile"; exit 1; }
    rm -f "$pg_dir/pwfile"
    "${pg_as[@]}" tee -a "$pg_dir/data/postgresql.conf" >/dev/null <<'EOF'
# scripts/services.sh: the test suite's private cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
EOF
  fi
  if ! pg_running; then
    port="$(cat "$pg_dir/port" 2>/dev/null || true)"
    if [ -z "$port" ] || ! port_free "$port"; then port="$(pick_port)"; echo "$port" > "$pg_dir/port"; fi
    log "starting the test PostgreSQL on 127.0.0.1:$port"
    "${pg_as[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/data/server.log" -o "-p $port" -w -t 60 start >&2 ||
      { tail -20 "$pg_dir/data/server.log" >&2; exit 1; }
  fi
  port="$(cat "$pg_dir/port")"
  TEST_DATABASE_URL="postgres://app:$(cat "$pg_dir/password")@127.0.0.1:$port/postgres?sslmode=disable"
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

echo "export TEST_DATABASE_URL='$TEST_DATABASE_URL'"
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
