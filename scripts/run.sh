#!/usr/bin/env bash
# Runs coda and voyager side by side for development (`make run`).
# Usage: scripts/run.sh [BIN_DIR]   (default bin; DATA_DIR and LOG_FORMAT are passed on)
#
# Ctrl-C (SIGINT) or SIGTERM stops both servers gracefully and exits. When
# either server exits on its own (it could not start: a port in use, a bad
# setting), the other is stopped too and the script exits non-zero, naming
# the one that failed. (The old recipe's `trap 'kill 0' INT TERM EXIT` sent
# the signal to its own shell again and recursed until bash crashed.)
set -u

bin=${1:-bin}
export DATA_DIR="${DATA_DIR:-./data}" LOG_FORMAT="${LOG_FORMAT:-text}"
mkdir -p "$DATA_DIR"

names=(coda voyager)
pids=()

# stop asks every server still running to shut down and waits for them.
stop() {
  trap '' INT TERM # a second Ctrl-C while stopping changes nothing
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}

trap 'echo >&2; echo "run: stopping coda and voyager" >&2; stop; exit 0' INT
trap 'stop; exit 0' TERM

for name in "${names[@]}"; do
  "$bin/$name" serve &
  pids+=($!)
done

# Wait until the first server exits.
if ((BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 3))); then
  wait -n
  status=$?
else
  status=""
fi
failed=""
while [ -z "$failed" ]; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      failed=${names[i]}
      if [ -z "$status" ]; then wait "${pids[i]}"; status=$?; fi
      break
    fi
  done
  [ -n "$failed" ] || sleep 0.2
done

others=()
for name in "${names[@]}"; do [ "$name" = "$failed" ] || others+=("$name"); done
echo "run: $failed exited with status $status (its error is above); stopping ${others[*]} too" >&2
stop
if [ "$status" = 0 ]; then exit 1; fi
exit "$status"
