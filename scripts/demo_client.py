"""Shows what runs on the demo bus: discovers services through $SRV and makes one call (nats-py + msgpack)."""
import asyncio
import json
import sys

import msgpack
import nats


async def main(url):
    nc = await nats.connect(url)
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    seen = {}
    for _ in range(50):
        await nc.publish("$SRV.INFO", b"", reply=inbox)
        try:
            while True:
                msg = await sub.next_msg(timeout=0.2)
                if msg.data:  # empty = a "no responders" status while services start
                    info = json.loads(msg.data)
                    seen[info["id"]] = info
        except nats.errors.TimeoutError:
            pass
        if len(seen) >= 6:  # refdata, deal-status and netting, two replicas each
            break
    print("services on the bus:")
    for info in seen.values():
        endpoints = ", ".join(e["subject"] for e in info["endpoints"])
        print(f"  {info['name']} {info['version']} id={info['id']}  endpoints: {endpoints}")
    req = {"base": {"minor": 25000050, "currency": "CNY"}, "rate": {"mantissa": 1123456, "scale": 5}, "counterCurrency": "RUB"}
    reply = msgpack.unpackb((await nc.request("ref.fx.counter", msgpack.packb(req), timeout=5)).data)
    minor = reply["counter"]["minor"]  # money stays integer: format minor units without floats
    print(f"ref.fx.counter 250,000.50 CNY @ 11.23456 -> {minor // 100:,}.{minor % 100:02d} RUB (exact {reply['exact']})")
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
