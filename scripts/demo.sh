#!/usr/bin/env bash
# Runs the demo: nats-server with JetStream plus every Svyaz service (two refdata replicas), until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

echo "== building (debug)"
swift build -q
BIN="$(swift build --show-bin-path)"
mkdir -p .run/logs .run/data
PIDS=()
NATS_PID=""
cleanup() {
  trap - EXIT INT TERM
  echo; echo "== stopping demo processes"
  # Services first, so they drain while NATS is still up; nats-server last.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$NATS_PID" ]; then kill -TERM "$NATS_PID" 2>/dev/null || true; wait "$NATS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

rm -f .run/logs/nats.log
nats-server -c compose/nats/single.conf -l .run/logs/nats.log &
NATS_PID=$!
for _ in $(seq 1 100); do grep -q "Server is ready" .run/logs/nats.log 2>/dev/null && break; sleep 0.1; done
grep -q "Server is ready" .run/logs/nats.log || { echo "nats-server did not start; see .run/logs/nats.log"; exit 1; }

for i in 1 2; do
  "$BIN/refdata" --nats-url nats://127.0.0.1:4222 --data-dir .run/data --instance-id "refdata-$i" \
    --metrics-port "910$i" >".run/logs/refdata-$i.log" 2>&1 &
  PIDS+=($!)
done

.venv/bin/python scripts/demo_client.py nats://127.0.0.1:4222

cat <<INFO

Svyaz demo is running. Where to look:
  NATS monitoring     http://127.0.0.1:8222  (/varz /connz /jsz /healthz)
  refdata metrics     http://127.0.0.1:9101/metrics  and  http://127.0.0.1:9102/metrics
  service discovery   .venv/bin/python scripts/demo_client.py nats://127.0.0.1:4222   (\$SRV.PING/INFO/STATS + a call)
  logs                .run/logs/
Press Ctrl-C to stop (only the processes started here are stopped).
INFO
wait
