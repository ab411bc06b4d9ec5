#!/usr/bin/env bash
# Builds the benchmarks in release and runs them against a private nats-server; prints a table, writes bench-results/*.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
swift build -c release -q  # svyaz-bench runs the release deal-status and netting binaries too
mkdir -p bench-results
"$(swift build -c release --show-bin-path)/svyaz-bench" --json "bench-results/foundation.json" "$@"
