#!/usr/bin/env bash
# Runs every load scenario against freshly built binaries on this machine
# (loopback only) and prints the tables that go into the issue notes.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-1000}" DURATION="${DURATION:-30s}"
echo "## Platform (SQLite, $(nproc) cores)"
go run ./bench/platform -bin bin -rate "$RATE" -duration "$DURATION"
echo
echo "## Rate limiter"
TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}" go test -run '^$' -bench . -benchmem ./internal/platform/ratelimit/ | grep -E '^Benchmark|ok'
