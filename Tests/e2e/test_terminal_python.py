"""A terminal written outside Swift (nats-py + msgpack) follows one client's deals live and decodes the snapshots."""
import asyncio
import datetime
import json
import subprocess

import msgpack
import nats

from conftest import stop_pid


def start(bin_dir, tmp_dir, url, *args, name):
    log = open(tmp_dir / f"{name}.log", "w")
    return subprocess.Popen([str(bin_dir / args[0]), "--nats-url", url, *args[1:]], stdout=log, stderr=subprocess.STDOUT)


def run_terminal(bin_dir, url, *args):
    out = subprocess.run([str(bin_dir / "terminal"), *args, "--nats-url", url, "--client", "C1"], capture_output=True, text=True,
                         timeout=30)
    return out.returncode, out.stdout, out.stderr


def test_python_terminal_follows_deal_status(nats_server, bin_dir, tmp_dir):
    deal_status = start(bin_dir, tmp_dir, nats_server.url, "deal-status", "--data-dir", str(tmp_dir), "--instance-id", "ds1",
                        name="deal-status")
    netting = start(bin_dir, tmp_dir, nats_server.url, "netting", "--data-dir", str(tmp_dir), "--instance-id", "nt1", name="netting")
    simulator = None
    try:
        async def run():
            nc = await nats.connect(nats_server.url)
            latest = {}
            versions = {}

            async def on_status(msg):
                status = msgpack.unpackb(msg.data, timestamp=3)
                deal = status["terms"]["dealId"]
                assert msg.subject == f"deal.status.C1.{deal}"
                assert status["terms"]["client"] == "C1"
                # Money is integer minor units with the currency; times are MessagePack timestamps.
                assert isinstance(status["terms"]["amount"]["minor"], int)
                assert isinstance(status["updatedAt"], datetime.datetime)
                versions.setdefault(deal, []).append(status["version"])
                latest[deal] = status

            await nc.subscribe("deal.status.C1.>", cb=on_status)
            await nc.flush()
            nonlocal simulator
            simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "2", "--deals", "12", "--rate", "400",
                              "--active", "6", "--prefix", "PY-", name="simulator")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline:
                if simulator.poll() == 0 and latest and all(s["settlement"] == "SETTLED" for s in latest.values()):
                    page = msgpack.unpackb((await nc.request("deal.query.C1.list", msgpack.packb({"limit": 500}), timeout=2)).data,
                                           timestamp=3)
                    if page["total"] == len(latest):
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"deals did not all settle: {[(d, s['settlement']) for d, s in latest.items()]}")
            assert simulator.returncode == 0
            # Every version of every deal arrived once, in order.
            for deal, seen in versions.items():
                assert seen == list(range(1, len(seen) + 1)), (deal, seen)
            for status in latest.values():
                assert status["confirmation"] == "CONFIRMED"
                assert all(leg["status"] == "SETTLED" for leg in status["legs"])
                assert isinstance(status["settledAt"], datetime.datetime)
            await nc.drain()
            return latest

        latest = asyncio.run(run())

        # The Swift terminal shows the same deals: one JSON line per deal, newest version of each.
        code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once", "--json")
        assert code == 0, err
        shown = [json.loads(line) for line in out.splitlines()]
        assert {d["terms"]["dealId"]: d["version"] for d in shown} == {d: s["version"] for d, s in latest.items()}
        code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once")
        assert code == 0 and "Подтверждено" in out and all(deal in out for deal in latest), out
        # Every deal is paid out, so nothing is left to net; preview says so and a stale close is a clear conflict.
        value_date = next(iter(latest.values()))["terms"]["valueDate"]
        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "preview", "--value-date", value_date, "--json")
        assert code == 0, err
        preview = json.loads(out)
        assert preview["client"] == "C1" and preview["valueDate"] == value_date
        assert preview["dealsIn"] == [] and all(d["reason"] for d in preview["dealsOut"]), preview
        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "close", "--value-date", value_date,
                                      "--version", str(preview["version"] + 5))
        assert code == 1 and "error 409" in err, (code, err)
        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "preview", "--value-date", "2024.12.02")
        assert code == 1 and "error 400" in err and "YYYY-MM-DD" in err, err
    finally:
        if simulator is not None:
            stop_pid(simulator)
        stop_pid(netting)
        stop_pid(deal_status)
