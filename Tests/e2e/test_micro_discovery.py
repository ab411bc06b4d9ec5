"""An independent client (nats-py + msgpack) discovers the refdata service through $SRV and calls it."""
import asyncio
import json
import subprocess

import msgpack
import nats
import pytest
from nats.errors import NoRespondersError

from conftest import stop_pid


async def discover(nc, subject, want=1, timeout=1.0):
    """Collects discovery replies (several instances may answer one $SRV request)."""
    inbox = nc.new_inbox()
    replies = []
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, b"", reply=inbox)
    try:
        while len(replies) < want:
            msg = await sub.next_msg(timeout=timeout)
            if not msg.data:  # a 503 "no responders" status while nobody is up yet
                continue
            replies.append(json.loads(msg.data))
    finally:
        await sub.unsubscribe()
    return replies


async def wait_for_service(nc, name, instances=1, deadline=20.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        try:
            found = await discover(nc, f"$SRV.PING.{name}", want=instances, timeout=0.3)
            if len(found) >= instances:
                return found
        except (asyncio.TimeoutError, nats.errors.TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"service {name} not discovered")


def start_refdata(bin_dir, url, data_dir, instance):
    return subprocess.Popen(
        [str(bin_dir / "refdata"), "--nats-url", url, "--data-dir", str(data_dir), "--instance-id", instance, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_discover_and_call_refdata(nats_server, bin_dir, tmp_dir):
    procs = [start_refdata(bin_dir, nats_server.url, tmp_dir, f"r{i}") for i in range(2)]

    async def scenario():
        nc = await nats.connect(nats_server.url)
        try:
            pings = await wait_for_service(nc, "refdata", instances=2)
            assert {p["type"] for p in pings} == {"io.nats.micro.v1.ping_response"}
            assert len({p["id"] for p in pings}) == 2, "each instance has its own id"

            info = (await discover(nc, f"$SRV.INFO.refdata.{pings[0]['id']}"))[0]
            assert info["type"] == "io.nats.micro.v1.info_response"
            subjects = {e["subject"]: e for e in info["endpoints"]}
            assert "ref.fx.counter" in subjects and subjects["ref.fx.counter"]["queue_group"] == "q"

            # D5 of the netting example: 250,000.50 CNY @ 11.23456 -> RUB 2,808,645.61728 -> 2,808,645.62
            req = {"base": {"minor": 25000050, "currency": "CNY"}, "rate": {"mantissa": 1123456, "scale": 5}, "counterCurrency": "RUB"}
            reply = await nc.request("ref.fx.counter", msgpack.packb(req), timeout=5)
            assert reply.headers is None or "Nats-Service-Error-Code" not in reply.headers
            body = msgpack.unpackb(reply.data)
            assert body["counter"] == {"minor": 280864562, "currency": "RUB"}
            assert body["exact"] == "2808645.61728"

            # JPY has no minor units: 1,000.00 USD @ 151.237 -> 151,237 JPY
            req = {"base": {"minor": 100000, "currency": "USD"}, "rate": {"mantissa": 151237, "scale": 3}, "counterCurrency": "JPY"}
            body = msgpack.unpackb((await nc.request("ref.fx.counter", msgpack.packb(req), timeout=5)).data)
            assert body["counter"] == {"minor": 151237, "currency": "JPY"}

            # Malformed bytes: 400 with the ADR-32 headers and a MessagePack error body.
            bad = await nc.request("ref.fx.counter", b"\xc1\xff\x00", timeout=5)
            assert bad.headers["Nats-Service-Error-Code"] == "400"
            assert bad.headers["Nats-Service-Error"]
            assert msgpack.unpackb(bad.data)["code"] == 400

            # Missing field: 400 too.
            missing = await nc.request("ref.fx.counter", msgpack.packb({"base": {"minor": 1, "currency": "USD"}}), timeout=5)
            assert missing.headers["Nats-Service-Error-Code"] == "400"

            # Impossible amount: 422 naming the field.
            neg = {"base": {"minor": -5, "currency": "USD"}, "rate": {"mantissa": 1, "scale": 0}, "counterCurrency": "RUB"}
            impossible = await nc.request("ref.fx.counter", msgpack.packb(neg), timeout=5)
            assert impossible.headers["Nats-Service-Error-Code"] == "422"
            assert msgpack.unpackb(impossible.data)["field"] == "base.minor"

            # Oversize payload: 413 without decoding.
            huge = await nc.request("ref.fx.counter", b"\x90" * (70 * 1024), timeout=5)
            assert huge.headers["Nats-Service-Error-Code"] == "413"

            # Unknown currency: 404 from the service's own SQLite table.
            unknown = await nc.request("ref.currency.get", msgpack.packb({"code": "XYZ"}), timeout=5)
            assert unknown.headers["Nats-Service-Error-Code"] == "404"
            kwd = msgpack.unpackb((await nc.request("ref.currency.get", msgpack.packb({"code": "KWD"}), timeout=5)).data)
            assert kwd == {"code": "KWD", "minorUnits": 3}

            # A request naming a reply subject that is not an inbox is not handled (nats-server does not check reply
            # subjects against permissions, and the service would publish with its own): nothing is sent there.
            sniff = await nc.subscribe("forged.reply")
            await nc.publish("ref.fx.counter", msgpack.packb(req), reply="forged.reply")

            # STATS count the requests across both instances (the forged one once it is dealt with).
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while True:
                stats = await discover(nc, "$SRV.STATS.refdata", want=2)
                counter = [e for s in stats for e in s["endpoints"] if e["name"] == "fx-counter"]
                total = sum(e["num_requests"] for e in counter)
                if total == 7 or loop.time() > end:
                    break
                await asyncio.sleep(0.05)
            errors = sum(e["num_errors"] for e in counter)
            assert total == 7 and errors == 5  # 2 good, malformed, missing field, negative, oversize, forged reply
            assert any("is not an inbox" in (e.get("last_error") or "") for e in counter)
            await nc.flush()
            assert sniff.pending_msgs == 0, "an answer was published on the forged reply subject"

            with pytest.raises(NoRespondersError):
                await nc.request("ref.nothing.here", b"", timeout=2)
        finally:
            await nc.close()

    try:
        asyncio.run(scenario())
    finally:
        for p in procs:
            stop_pid(p)
    assert all(p.returncode == 0 for p in procs), "SIGTERM shuts refdata down cleanly (exit 0)"
