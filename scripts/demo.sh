#!/usr/bin/env bash
# Runs the demo: nats-server with JetStream, every Svyaz service (two replicas each) and the deal simulator, until Ctrl-C.
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
  # Ctrl-C reaches the whole process group; a second one must not cut the clean-up short (it has its own deadline).
  trap - EXIT
  trap '' INT TERM
  echo; echo "== stopping demo processes"
  # Services first, so they drain while NATS is still up; nats-server last. Whatever has not stopped 15 s after
  # SIGTERM (a service busy with a large backlog) gets SIGKILL: JetStream redelivers what it had not acknowledged.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  stop_by_deadline "${PIDS[@]}"
  if [ -n "$NATS_PID" ]; then kill -TERM "$NATS_PID" 2>/dev/null || true; stop_by_deadline "$NATS_PID"; fi
}
stop_by_deadline() {
  for _ in $(seq 1 150); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

rm -f .run/logs/nats.log
# The server's Go GC collects at 5x the live heap (not 2x) under a 1 GiB soft limit: README, "Decisions".
GOGC="${GOGC:-400}" GOMEMLIMIT="${GOMEMLIMIT:-1GiB}" nats-server -c compose/nats/single.conf -l .run/logs/nats.log &
NATS_PID=$!
for _ in $(seq 1 100); do grep -q "Server is ready" .run/logs/nats.log 2>/dev/null && break; sleep 0.1; done
grep -q "Server is ready" .run/logs/nats.log || { echo "nats-server did not start; see .run/logs/nats.log"; exit 1; }

for i in 1 2; do
  "$BIN/refdata" --nats-url nats://127.0.0.1:4222 --data-dir .run/data --instance-id "refdata-$i" \
    --metrics-port "910$i" >".run/logs/refdata-$i.log" 2>&1 &
  PIDS+=($!)
done

for i in 1 2; do
  "$BIN/deal-status" --nats-url nats://127.0.0.1:4222 --data-dir .run/data --instance-id "deal-status-$i" \
    --metrics-port "911$i" >".run/logs/deal-status-$i.log" 2>&1 &
  PIDS+=($!)
  "$BIN/netting" --nats-url nats://127.0.0.1:4222 --data-dir .run/data --instance-id "netting-$i" \
    --metrics-port "912$i" >".run/logs/netting-$i.log" 2>&1 &
  PIDS+=($!)
done
"$BIN/simulator" --nats-url nats://127.0.0.1:4222 --clients 3 --rate 20 --varied-lifecycles >.run/logs/simulator.log 2>&1 &
PIDS+=($!)

.venv/bin/python scripts/demo_client.py nats://127.0.0.1:4222

cat <<INFO

Svyaz demo is running. Where to look:
  NATS monitoring     http://127.0.0.1:8222  (/varz /connz /jsz /healthz)
  refdata metrics     http://127.0.0.1:9101/metrics  and  http://127.0.0.1:9102/metrics
  service discovery   .venv/bin/python scripts/demo_client.py nats://127.0.0.1:4222   (\$SRV.PING/INFO/STATS + a call)
  deal-status metrics http://127.0.0.1:9111/metrics  http://127.0.0.1:9112/metrics   (netting: 9121, 9122)
  live deals          $BIN/terminal deals --client C1            (full screen; --json for one JSON line per update)
  netting             $BIN/terminal netting preview --client C1 --value-date <a forward's or swap's value date from the table>
                      (then: netting exclude|include --deal … --expected-version N, netting close --version N --by you)
  a deal's audit      $BIN/terminal history --client C1 --deal <a deal number from the table>
  settlement details  $BIN/terminal requisites --client C1 --deal <…> --currency RUB --account 40702810900000000042 --bic SABRRUMM
  simulator           3 clients (C1–C3), 20 deal events/s: spots settle; forwards and swaps stay confirmed, unsettled
                      (nettable; their value dates are weeks ahead); now and then a dispute, an amendment, a cancellation; log: .run/logs/simulator.log
  logs                .run/logs/
Press Ctrl-C to stop (only the processes started here are stopped).
INFO
wait
