#!/usr/bin/env bash
# Runs every test: Swift Testing suites (real nats-server + SQLite), then the external-client tests (nats-py + msgpack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

echo "== swift build"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== external-client tests (python nats-py + msgpack)"
.venv/bin/python -m pytest -q Tests/e2e
