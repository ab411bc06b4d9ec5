"""Fixtures for the external-client tests: a real nats-server (JetStream on) and the built Swift binaries."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop_pid(proc: subprocess.Popen, timeout=10.0):
    """Stops a process we started (SIGTERM, then SIGKILL), by its pid only."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


class NatsServer:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="svyaz-e2e-nats-"))
        self.log = self.dir / "server.log"
        server = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.proc = subprocess.Popen(
            [server, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(self.dir / "js"), "-l", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def ready():
            text = self.log.read_text() if self.log.exists() else ""
            m = re.search(r"Listening for client connections on [^\s]+:(\d+)", text)
            return int(m.group(1)) if m and "Server is ready" in text else None

        self.port = wait_for(ready, what="nats-server to listen")
        self.url = f"nats://127.0.0.1:{self.port}"

    def stop(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def nats_server():
    server = NatsServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    """Where `swift build` put the executables (the test command builds them first)."""
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True)
    path = Path(out.stdout.strip())
    assert (path / "refdata").exists(), f"refdata not built in {path}; run swift build first"
    return path


@pytest.fixture
def tmp_dir():
    d = Path(tempfile.mkdtemp(prefix="svyaz-e2e-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)
