#!/usr/bin/env bash
# Runs every load scenario against freshly built binaries on this machine
# (loopback only) and prints the tables that go into the issue notes.
# PostgreSQL figures need TEST_DATABASE_URL (scripts/services.sh prints it).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-1000}" DURATION="${DURATION:-30s}" N="${N:-100000}"
echo "## Platform (SQLite, $(nproc) cores)"
go run ./bench/platform -bin bin -rate "$RATE" -duration "$DURATION"
echo
echo "## Rate limiter and session check"
TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}" go test -run '^$' -bench . -benchmem ./internal/platform/ratelimit/ | grep -E '^Benchmark|ok'
go test -run '^$' -bench SessionCheck -benchmem ./internal/platform/auth/ | grep -E '^Benchmark|ok'
echo
echo "## Coda ideas"
go run ./bench/ideas -bin bin -rate "$RATE" -duration "$DURATION" -n "$N"
echo
echo "## Voyager chat"
go run ./bench/voyager -bin bin
echo
echo "## DevMode relay"
go test -run '^$' -bench . -benchtime 1x ./bench/devmode/ | grep -vE '^(goos|goarch|pkg|cpu):'
PAIRS="${PAIRS:-1000}" go test -run TestIdleMemory -v ./bench/devmode/ | grep -vE '^(=== RUN|PASS$)'
echo
echo "## Continuous backup (kill -9, restore the replica)"
go run ./bench/backup -bin bin -runs "${BACKUP_RUNS:-3}" -size "${BACKUP_SIZE:-100MB}"
