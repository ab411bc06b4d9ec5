"""A terminal written outside Swift (nats-py + msgpack) follows one client's deals live and decodes the snapshots."""
import asyncio
import datetime
import decimal
import json
import subprocess

import msgpack
import nats

from conftest import stop_pid, wait_for


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
        # Filters as on the dashboard: each shows exactly the deals that match, by the snapshots' own fields.
        def day(status):
            return status["terms"]["tradeTime"].astimezone(datetime.timezone.utc).date()
        first_day = min(day(s) for s in latest.values())
        some_deal = sorted(latest)[0]
        some_channel = latest[some_deal]["terms"]["channel"]
        next_day = (first_day + datetime.timedelta(days=1)).isoformat()
        some_pair = latest[some_deal]["terms"]["baseCurrency"] + latest[some_deal]["terms"]["quoteCurrency"]
        some_value_date = latest[some_deal]["terms"]["valueDate"]

        # Amounts (base currencies CNY, USD, EUR: two decimals) and rates, as exact decimals.
        def amount(s):
            assert s["terms"]["amount"]["currency"] in ("CNY", "USD", "EUR"), s["terms"]["amount"]
            return decimal.Decimal(s["terms"]["amount"]["minor"]).scaleb(-2)

        def rates(s):
            t = s["terms"]
            near = [t["rate"]] + ([t["farRate"]] if t["product"] == "FX_SWAP" and t.get("farRate") else [])
            return [decimal.Decimal(r["mantissa"]).scaleb(-r["scale"]) for r in near]
        some_currency = latest[some_deal]["terms"]["amount"]["currency"]
        some_account = latest[some_deal]["terms"]["requisites"][0]["account"]
        in_currency = sorted(amount(s) for s in latest.values() if s["terms"]["amount"]["currency"] == some_currency)
        low_amount, high_amount = in_currency[len(in_currency) // 4], in_currency[(3 * len(in_currency)) // 4]
        all_rates = sorted(r for s in latest.values() for r in rates(s))
        low_rate, high_rate = all_rates[len(all_rates) // 3], all_rates[(2 * len(all_rates)) // 3]

        def on_date(s, date):
            t = s["terms"]
            return t["valueDate"] == date or (t["product"] == "FX_SWAP" and t.get("farValueDate") == date)
        cases = [  # arguments, what they keep, whether both kept and dropped deals must exist (the filter tells apart)
            (["--pair", some_pair.lower()], lambda s: s["terms"]["baseCurrency"] + s["terms"]["quoteCurrency"] == some_pair, False),
            (["--product", "FX_SPOT"], lambda s: s["terms"]["product"] == "FX_SPOT", True),
            (["--value-date", some_value_date], lambda s: on_date(s, some_value_date), False),
            (["--confirmation", "CONFIRMED"], lambda s: s["confirmation"] == "CONFIRMED", False),
            (["--settlement", "FAILED"], lambda s: s["settlement"] == "FAILED", False),
            (["--side", "BUY"], lambda s: s["terms"]["side"] == "BUY", True),
            (["--currency", "rub"], lambda s: "RUB" in (s["terms"]["baseCurrency"], s["terms"]["quoteCurrency"]), True),
            (["--channel", some_channel], lambda s: s["terms"]["channel"] == some_channel, False),
            (["--deal", some_deal.lower()], lambda s: some_deal in s["terms"]["dealId"], False),
            (["--traded-to", first_day.isoformat()], lambda s: day(s) == first_day, False),  # the whole last day
            (["--traded-from", next_day], lambda s: day(s) > first_day, False),
            (["--traded-to", (first_day - datetime.timedelta(days=1)).isoformat()], lambda s: False, False),
            # An amount range keeps deals in its currency only; the text may group thousands as the table does.
            (["--amount-from", f"{low_amount:,} {some_currency.lower()}"],
             lambda s: s["terms"]["amount"]["currency"] == some_currency and amount(s) >= low_amount, False),
            (["--amount-from", f"{low_amount} {some_currency}", "--amount-to", f"{high_amount} {some_currency}"],
             lambda s: s["terms"]["amount"]["currency"] == some_currency and low_amount <= amount(s) <= high_amount, False),
            # The requisites column: an account, whole, written with spaces as people do.
            (["--account", " ".join(some_account[i:i + 4] for i in range(0, len(some_account), 4))],
             lambda s: any(r["account"] == some_account for r in s["terms"]["requisites"]), False),
            # A rate range, compared as numbers (a trailing zero changes nothing), a swap by either leg.
            (["--rate-from", f"{low_rate}0", "--rate-to", str(high_rate)], lambda s: any(low_rate <= r <= high_rate for r in rates(s)), True),
        ]
        for args, keep, mixed in cases:
            code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once", "--json", *args)
            assert code == 0, err
            expected = {d for d, s in latest.items() if keep(s)}
            assert {json.loads(line)["terms"]["dealId"] for line in out.splitlines()} == expected, args
            if mixed:
                assert 0 < len(expected) < len(latest), (args, expected)
        for bad in ["2024-13-01", "2024-02-30", "+2024-1-01", "2024-1-001"]:
            code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once", "--traded-from", bad)
            assert code != 0 and "--traded-from must be a day as YYYY-MM-DD" in err, (bad, code, err)
        for args, message in [(["--amount-from", "5 USD", "--amount-to", "9 EUR"], "must name one currency"),
                              (["--amount-to", "5.001 USD"], "--amount-to must be an amount and a known currency"),
                              (["--amount-to", "5"], "--amount-to must be an amount and a known currency"),
                              (["--rate-from", "0"], "--rate-from must be a positive rate"),
                              (["--pair", "usd/rub"], "--pair must be two ISO 4217 codes"),
                              (["--currency", "US"], "--currency must be an ISO 4217 code")]:
            code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once", *args)
            assert code != 0 and message in err, (args, code, err)
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


def list_deals(url):
    """The client's deals as deal-status lists them (every deal fits one page here)."""
    async def fetch():
        nc = await nats.connect(url)
        try:
            reply = await nc.request("deal.query.C1.list", msgpack.packb({"limit": 500}), timeout=2)
            return msgpack.unpackb(reply.data, timestamp=3)
        finally:
            await nc.drain()
    return asyncio.run(fetch())


def start_deal_status(bin_dir, tmp_dir, url):
    """deal-status, once it answers lists (a terminal started before that would get "no responders" and stop)."""
    deal_status = start(bin_dir, tmp_dir, url, "deal-status", "--data-dir", str(tmp_dir), "--instance-id", "ds1", name="deal-status")

    def answers():
        try:
            return list_deals(url) is not None
        except Exception:  # no responders yet
            return False
    try:
        wait_for(answers, timeout=30, interval=0.1, what="deal-status to answer deal.query.C1.list")
    except BaseException:
        stop_pid(deal_status)
        raise
    return deal_status


def settled_list(url, simulator):
    """The list once the simulator has ended and every deal it booked is settled, else None."""
    if simulator.poll() != 0:
        return None
    page = list_deals(url)
    done = page["total"] > 0 and page["total"] == len(page["deals"]) and all(d["settlement"] == "SETTLED" for d in page["deals"])
    return page if done else None


def test_live_terminal_json_prints_each_newer_version_once(nats_server, bin_dir, tmp_dir):
    """`terminal deals --json` without --once, read through a pipe, follows the deals live: one line per newer version as
    it comes, none stale or repeated."""
    import threading

    deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
    terminal = filtered = simulator = None
    try:
        terminal = subprocess.Popen([str(bin_dir / "terminal"), "deals", "--json", "--nats-url", nats_server.url, "--client", "C1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        received = []  # complete lines, as the pipe delivers them
        reader = threading.Thread(target=lambda: received.extend(json.loads(line) for line in terminal.stdout), daemon=True)
        reader.start()
        # A script following the deals whose payments are under way, told when one moves on (--leaving).
        filtered = subprocess.Popen([str(bin_dir / "terminal"), "deals", "--json", "--leaving", "--settlement", "IN_PROGRESS", "--nats-url",
                                     nats_server.url, "--client", "C1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        in_progress = []
        threading.Thread(target=lambda: in_progress.extend(json.loads(line) for line in filtered.stdout), daemon=True).start()
        # The terminal subscribes before it lists, so deals booked while it starts reach it either way.
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "10", "--rate", "300",
                          "--active", "5", "--prefix", "LIVE-", name="simulator")
        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="every deal settled")
        final = {d["terms"]["dealId"]: d["version"] for d in page["deals"]}

        def caught_up():
            return {status["terms"]["dealId"]: status["version"] for status in list(received)} == final
        # The terminal is still running: whatever arrived came through the pipe as it was printed, not at exit.
        wait_for(caught_up, timeout=10, interval=0.05, what="the terminal to print every deal's last version")
        assert terminal.poll() is None, "the live terminal ended by itself"
        printed = {}
        for status in list(received):
            printed.setdefault(status["terms"]["dealId"], []).append(status["version"])
        for deal, versions in printed.items():
            assert versions == sorted(set(versions)), (deal, versions)  # newer each time: no stale or repeated line
        assert all(s["settlement"] == "SETTLED" for s in list(received) if s["version"] == final[s["terms"]["dealId"]])
        # The filtered script, subscribed long since, follows ten more deals: it sees each while its payments are under
        # way, and then the version that takes it out of the filter (a leg credited, or one failed), so that it knows
        # the deal moved on.
        stop_pid(simulator)
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "10", "--rate", "300",
                          "--active", "5", "--prefix", "MORE-", name="simulator-more")
        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="the new deals settled")
        more = {d["terms"]["dealId"] for d in page["deals"] if d["terms"]["dealId"].startswith("MORE-")}
        assert len(more) == 10

        def each_left():
            by_deal = {}
            for status in list(in_progress):
                by_deal.setdefault(status["terms"]["dealId"], []).append(status)
            done = more <= set(by_deal) and all(by_deal[d][-1]["settlement"] != "IN_PROGRESS" for d in more)
            return by_deal if done else None
        by_deal = wait_for(each_left, timeout=10, interval=0.05, what="the filtered terminal to print each new deal leaving IN_PROGRESS")
        for deal, seen in by_deal.items():
            versions = [s["version"] for s in seen]
            assert versions == sorted(set(versions)), (deal, versions)
            # Every line but the last is IN_PROGRESS, except that a failed payment re-instructed comes back into it.
            leaving = [i for i, s in enumerate(seen) if s["settlement"] != "IN_PROGRESS"]
            assert leaving and all(seen[i + 1]["settlement"] == "IN_PROGRESS" for i in leaving[:-1]) and leaving[-1] == len(seen) - 1, (deal, seen)
            # Those lines, and only those, say so.
            assert [i for i, s in enumerate(seen) if s.get("leftFilters") is True] == leaving, (deal, seen)
    finally:
        if terminal is not None:
            stop_pid(terminal)
            terminal.stdout.close()
        if filtered is not None:
            stop_pid(filtered)
            filtered.stdout.close()
        if simulator is not None:
            stop_pid(simulator)
        stop_pid(deal_status)


def test_terminal_that_falls_behind_says_so_and_reads_the_list_again(nats_server, bin_dir, tmp_dir):
    """A `--json` terminal whose output nobody reads for a while falls behind; NATS drops updates for it. It says so on
    standard error, reads the list again, and ends up with every deal's last version."""
    import threading

    deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
    terminal = simulator = None
    try:
        terminal = subprocess.Popen([str(bin_dir / "terminal"), "deals", "--json", "--pending-limit", "1", "--nats-url", nats_server.url,
                                     "--client", "C1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        errors = []
        threading.Thread(target=lambda: errors.extend(terminal.stderr), daemon=True).start()
        # Nobody reads its output while 40 deals run their lives: the pipe fills, the terminal blocks on it.
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "40", "--rate", "400",
                          "--active", "20", "--prefix", "LAG-", name="simulator")
        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="every deal settled")
        final = {d["terms"]["dealId"]: d["version"] for d in page["deals"]}
        received = []
        threading.Thread(target=lambda: received.extend(json.loads(line) for line in terminal.stdout), daemon=True).start()

        def caught_up():
            latest = {}
            for status in list(received):
                latest[status["terms"]["dealId"]] = max(latest.get(status["terms"]["dealId"], 0), status["version"])
            return latest == final and any("list read again; caught up" in line for line in list(errors))
        wait_for(caught_up, timeout=20, interval=0.1, what="the terminal to catch up after dropping updates")
        assert any("updates were dropped" in line and "reading the list again" in line for line in list(errors)), errors
        assert terminal.poll() is None
    finally:
        if terminal is not None:
            stop_pid(terminal)
            terminal.stdout.close()
            terminal.stderr.close()
        if simulator is not None:
            stop_pid(simulator)
        stop_pid(deal_status)


class ScreenTerminal:
    """`terminal deals` on a pseudo-terminal of the given size, as a person would run it; `frame()` is the last screen.
    A thread reads the pty all along: one left unread would block the terminal's writes."""

    def __init__(self, bin_dir, url, rows, columns):
        import fcntl
        import os
        import pty
        import struct
        import termios
        import threading
        self.buffer = bytearray()
        self.lock = threading.Lock()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execv(str(bin_dir / "terminal"), [str(bin_dir / "terminal"), "deals", "--nats-url", url, "--client", "C1"])
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.reader = threading.Thread(target=self.read_all, daemon=True)
        self.reader.start()

    def read_all(self):
        import os
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the terminal is gone (EIO) or the fd closed
                return
            if not data:
                return
            with self.lock:
                self.buffer.extend(data)

    def frame(self):
        """The newest screen drawn."""
        with self.lock:
            last = bytes(self.buffer.split(b"\x1b[H\x1b[2J")[-1])
        return last.decode(errors="replace").replace("\r\n", "\n")

    def stop(self):
        import os
        import signal
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)
        self.reader.join(timeout=5)
        os.close(self.fd)


def test_live_screen_fits_the_window_and_shows_the_last_change(nats_server, bin_dir, tmp_dir):
    """The full-screen table in a 12-row, 220-column pseudo-terminal: the newest deals that fit (a swap takes two lines,
    its near and far legs, as on the dashboard), a count of the rest, no line past the window's last (the title stays
    on screen), and, after the last event, every shown line's final status (a burst's last change is drawn too). In 120
    columns, the status still shows: other columns give way."""
    deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
    screen = narrow = simulator = None
    try:
        screen = ScreenTerminal(bin_dir, nats_server.url, rows=12, columns=220)
        narrow = ScreenTerminal(bin_dir, nats_server.url, rows=12, columns=120)
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "14", "--rate", "300",
                          "--active", "7", "--prefix", "SCR-", name="simulator")

        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="every deal settled")
        total = page["total"]
        assert total > 9, total  # more deals than the window has rows for
        # The newest deals whose lines fit in the 9 rows between the header and the count: whole deals only.
        newest, used = [], 0
        for deal in sorted(page["deals"], key=lambda d: (d["terms"]["tradeTime"], d["terms"]["dealId"]), reverse=True):
            lines_of = 2 if deal["terms"]["product"] == "FX_SWAP" else 1
            if used + lines_of > 9:
                break
            newest.append(deal)
            used += lines_of
        expected = [(d["terms"]["dealId"], tenor) for d in newest
                    for tenor in (["FX_SWAP near", "FX_SWAP far"] if d["terms"]["product"] == "FX_SWAP" else [d["terms"]["product"]])]

        def final_frame():
            frame = screen.frame()
            rows = [line for line in frame.split("\n") if line.startswith("SCR-")]
            done = len(rows) == len(expected) and all("Зачислено на счёт Клиента" in line for line in rows)
            return frame if done else None
        frame = wait_for(final_frame, timeout=10, interval=0.05, what="a frame with the newest deals that fit, all settled")
        lines = frame.split("\n")
        rows = [line for line in lines if line.startswith("SCR-")]
        assert [(row.split()[0], row[45:60].strip()) for row in rows] == expected, rows  # deal, product (and leg) columns
        assert ("FX_SWAP far") in [tenor for _, tenor in expected], expected  # the simulator's seed books swaps among them
        opposite = {"BUY": "SELL", "SELL": "BUY"}
        sides = [(d["terms"]["side"], tenor) for d in newest for tenor in (["near", "far"] if d["terms"]["product"] == "FX_SWAP" else ["near"])]
        assert [row[60:65].strip() for row in rows] == [side if tenor == "near" else opposite[side] for side, tenor in sides], rows
        assert len(lines) == 3 + used and not frame.endswith("\n"), lines  # a newline after the last would scroll the title away
        assert all(len(line) <= 220 for line in lines), lines
        assert f"— {total} deals —" in lines[0], lines[0]
        assert lines[-1].startswith(f"… and {total - len(newest)} older deals"), lines[-1]
        assert lines[1].split() == ["Deal", "Trade", "time", "Channel", "Product", "Side", "Pair", "Amount", "Rate", "Value",
                                    "date", "Confirmation", "Settlement"], lines[1]  # a wide window has room for all

        # In 120 columns the least needed columns give way, so that where each deal stands is still on screen.
        def narrow_frame():
            frame = narrow.frame()
            rows = [line for line in frame.split("\n") if line.startswith("SCR-")]
            done = len(rows) == used and all("Зачислено на счёт Клиента" in line for line in rows)
            return frame if done else None
        lines = wait_for(narrow_frame, timeout=10, interval=0.05, what="the narrow screen to show every status").split("\n")
        assert lines[1].split() == ["Deal", "Side", "Pair", "Amount", "Confirmation", "Settlement"], lines[1]
        assert all(len(line) <= 120 for line in lines), lines
    finally:
        if narrow is not None:
            narrow.stop()
        if screen is not None:
            screen.stop()
        if simulator is not None:
            stop_pid(simulator)
        stop_pid(deal_status)


class CuttableProxy:
    """A TCP proxy in front of nats-server whose connections can be cut, and new ones refused, until restored: a
    network outage of one client while the rest of the system goes on."""

    def __init__(self, upstream_port):
        import socket
        import threading
        self.upstream_port = upstream_port
        self.accepting = threading.Event()
        self.accepting.set()
        self.lock = threading.Lock()
        self.sockets = set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.accepting.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(source, target), daemon=True).start()

    def pipe(self, source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self.shut(source, target)

    def shut(self, *sockets):
        import socket
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
            with self.lock:
                self.sockets.discard(s)

    def cut(self):
        self.accepting.clear()
        with self.lock:
            cut, self.sockets = self.sockets, set()
        self.shut(*cut)

    def restore(self):
        self.accepting.set()

    def close(self):
        import socket
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept (close alone does not)
        except OSError:
            pass
        self.listener.close()
        self.cut()


def test_live_terminal_catches_up_after_its_connection_was_lost(nats_server, bin_dir, tmp_dir):
    """Terminals whose network drops while deals move say so on screen, and read the list again when they reconnect
    (retrying while deal-status does not answer): the versions published meanwhile never reached their subscriptions,
    and they show them anyway."""
    import threading

    deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
    proxy = CuttableProxy(nats_server.port)
    terminal = screen = simulator = None
    try:
        notices = tmp_dir / "terminal.stderr"
        terminal = subprocess.Popen([str(bin_dir / "terminal"), "deals", "--json", "--nats-url", proxy.url, "--client", "C1"],
                                    stdout=subprocess.PIPE, stderr=open(notices, "w"), text=True)
        screen = ScreenTerminal(bin_dir, proxy.url, rows=40, columns=250)
        received = []
        threading.Thread(target=lambda: received.extend(json.loads(line) for line in terminal.stdout), daemon=True).start()

        def shows(final):
            return lambda: {d: v for d, v in ((s["terms"]["dealId"], s["version"]) for s in list(received)) if d in final} == final

        # Before the outage: deals move and the terminal follows them live.
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "5", "--rate", "300",
                          "--active", "5", "--prefix", "PRE-", name="simulator-pre")
        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="the first deals settled")
        wait_for(shows({d["terms"]["dealId"]: d["version"] for d in page["deals"]}), timeout=10, what="the terminal to follow")

        wait_for(lambda: all(d["terms"]["dealId"] in screen.frame() for d in page["deals"]), timeout=10, what="the screen to follow")

        # The outage: the terminals are cut off while new deals are booked and settle. The screen says so.
        proxy.cut()
        wait_for(lambda: screen.frame().startswith("CONNECTION LOST at "), timeout=10, what="the screen to say the connection is lost")
        wait_for(lambda: "connection lost; reconnecting" in notices.read_text(), timeout=10, what="--json to say so on standard error")
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "5", "--rate", "300",
                          "--active", "5", "--prefix", "OUT-", name="simulator-out")
        page = wait_for(lambda: settled_list(nats_server.url, simulator), timeout=60, interval=0.1, what="the new deals settled")
        during = {d["terms"]["dealId"]: d["version"] for d in page["deals"] if d["terms"]["dealId"].startswith("OUT-")}
        assert during and not any(s["terms"]["dealId"].startswith("OUT-") for s in list(received))

        # Back on the network while deal-status is down: the list cannot be read, and the screen keeps warning.
        stop_pid(deal_status)
        proxy.restore()
        wait_for(lambda: screen.frame().startswith("RECONNECTED, the list not read again yet"), timeout=30,
                 what="the screen to say the list could not be read again")
        assert not any(s["terms"]["dealId"].startswith("OUT-") for s in list(received))

        # deal-status is back (its SQLite file kept): they catch up without any further change to those deals.
        deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
        wait_for(shows(during), timeout=30, interval=0.1, what="the terminal to show what moved while it was away")
        assert terminal.poll() is None
        assert "reconnected; caught up" in notices.read_text()

        def caught_up_on_screen():
            frame = screen.frame()
            rows = {line.split()[0]: line for line in frame.split("\n") if line.startswith("OUT-")}
            return (frame.startswith("Svyaz terminal") and set(rows) == set(during)
                    and all("Зачислено на счёт Клиента" in line for line in rows.values()))
        wait_for(caught_up_on_screen, timeout=30, interval=0.1, what="the screen to drop the warning and show the new deals settled")
        for deal in during:
            versions = [s["version"] for s in list(received) if s["terms"]["dealId"] == deal]
            assert versions == sorted(set(versions)), (deal, versions)
    finally:
        if terminal is not None:
            stop_pid(terminal)
            terminal.stdout.close()
        if screen is not None:
            screen.stop()
        if simulator is not None:
            stop_pid(simulator)
        proxy.close()
        stop_pid(deal_status)


def test_terminal_netting_and_requisites_commands(nats_server, bin_dir, tmp_dir):
    """The terminal's commands against the running services, on the simulator's varied lifecycles (forwards and swaps
    wait confirmed for their value date, so their sets have deals to net): preview, exclude, a stale exclude (a clear
    409, and the set as it stands now with the version to name), include, close, a second close, and requisites on a
    deal not yet released and on a settled one."""
    deal_status = start_deal_status(bin_dir, tmp_dir, nats_server.url)
    netting = start(bin_dir, tmp_dir, nats_server.url, "netting", "--data-dir", str(tmp_dir), "--instance-id", "nt1", name="netting")
    simulator = None
    try:
        simulator = start(bin_dir, tmp_dir, nats_server.url, "simulator", "--clients", "1", "--deals", "40", "--rate", "500",
                          "--active", "10", "--prefix", "NET-", "--varied-lifecycles", name="simulator")

        def finished():
            if simulator.poll() != 0:
                return None
            page = list_deals(nats_server.url)
            done = page["total"] == 40 and all(
                d["confirmation"] == "CANCELLED"
                or (d["confirmation"] == "CONFIRMED" and (d["terms"]["product"] != "FX_SPOT" or d["settlement"] == "SETTLED"))
                for d in page["deals"])
            return page if done else None
        page = wait_for(finished, timeout=60, interval=0.1, what="every simulated deal at the end of its lifecycle")
        held = [d for d in page["deals"] if d["terms"]["product"] != "FX_SPOT" and d["confirmation"] == "CONFIRMED"]
        # The table says why a deal is not confirmed in the dashboard's words, whatever the back office's text.
        cancelled = [d["terms"]["dealId"] for d in page["deals"] if d["confirmation"] == "CANCELLED"]
        assert cancelled, "the seeded simulator cancels one deal in thirty"
        code, out, err = run_terminal(bin_dir, nats_server.url, "deals", "--once")
        assert code == 0, err
        lines = [line for line in out.splitlines() if line.split()[:1] == [cancelled[0]]]
        assert lines, out
        for line in lines:
            assert "Без подтверждения (сделка отменена)" in line and line.rstrip().endswith("Отменено"), line
        by_date = {}
        for d in held:
            by_date.setdefault(d["terms"]["valueDate"], []).append(d["terms"]["dealId"])
        value_date, expected_in = max(by_date.items(), key=lambda item: len(item[1]))
        assert len(expected_in) >= 2, by_date

        def preview():
            code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "preview", "--value-date", value_date, "--json")
            assert code == 0, err
            return json.loads(out)
        seen = wait_for(lambda: (lambda p: p if sorted(p["dealsIn"]) == sorted(expected_in) else None)(preview()), timeout=20,
                        interval=0.2, what=f"netting to hold the set of {value_date}")
        deal = sorted(expected_in)[0]

        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "exclude", "--value-date", value_date, "--deal", deal,
                                      "--expected-version", str(seen["version"]), "--json")
        assert code == 0, err
        excluded = json.loads(out)
        out_entry = next(d for d in excluded["dealsOut"] if d["dealId"] == deal)
        assert deal not in excluded["dealsIn"] and out_entry["excludedByClient"], excluded
        assert {leg["legId"].split("-")[1] for leg in out_entry["grossPayments"]} == {
            next(d for d in held if d["terms"]["dealId"] == deal)["terms"][side] for side in ("baseCurrency", "quoteCurrency")}, out_entry
        assert excluded["netVersion"] == excluded["version"] == seen["version"] + 1, excluded

        # Naming the version from before the exclusion: refused, and the set is shown as it stands now.
        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "include", "--value-date", value_date, "--deal", deal,
                                      "--expected-version", str(seen["version"]))
        assert code == 1 and "error 409" in err and f"changed since version {seen['version']}" in err, (code, err)
        assert "The set as it stands now:" in out and f"Run the command again with version {excluded['version']}" in out, out

        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "include", "--value-date", value_date, "--deal", deal,
                                      "--expected-version", str(excluded["version"]), "--json")
        assert code == 0, err
        included = json.loads(out)
        assert sorted(included["dealsIn"]) == sorted(expected_in) and included["net"] == seen["net"], included

        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "close", "--value-date", value_date,
                                      "--version", str(included["version"]), "--by", "e2e")
        assert code == 0 and f"Netting set C1 {value_date} — version {included['version'] + 1} — CLOSED by e2e" in out, (code, out, err)
        closed = preview()
        assert closed["state"] == "CLOSED" and closed["agreedNet"] == closed["net"] == seen["net"], closed
        code, out, err = run_terminal(bin_dir, nats_server.url, "netting", "close", "--value-date", value_date,
                                      "--version", str(closed["version"]), "--by", "e2e")
        assert code == 1 and "error 409" in err and "is closed" in err, (code, err)

        # Requisites: accepted for a deal whose payments are not released (one of another value date), refused for a
        # settled one.
        other = next((d for d in held if d["terms"]["valueDate"] != value_date), None)
        assert other is not None, by_date  # the seeded simulator spreads forwards over several value dates
        if other is not None:
            currency = other["terms"]["quoteCurrency"]
            code, out, err = run_terminal(bin_dir, nats_server.url, "requisites", "--deal", other["terms"]["dealId"], "--currency",
                                          currency, "--account", "40702000000000000042", "--bic", "SVYZRUMM")
            assert code == 0 and out.startswith("accepted (event ") and f"of the deal settles {currency} with the new details" in out, (code, out, err)

            def changed():
                deal_now = next(d for d in list_deals(nats_server.url)["deals"] if d["terms"]["dealId"] == other["terms"]["dealId"])
                return any(r["currency"] == currency and r["account"] == "40702000000000000042" for r in deal_now["terms"]["requisites"])
            wait_for(changed, timeout=10, interval=0.1, what="the new settlement details on the deal")
            # The deal's audit trail shows the change, who asked for it and the version it made.
            code, out, err = run_terminal(bin_dir, nats_server.url, "history", "--deal", other["terms"]["dealId"], "--json")
            assert code == 0, err
            history = json.loads(out)
            change = [e for e in history["entries"] if e["event"]["kind"] == "REQUISITES_CHANGED"]
            assert len(change) == 1 and change[0]["outcome"] == "APPLIED" and change[0]["event"]["reason"] == "requested by terminal-C1", history
            assert history["entries"][0]["event"]["kind"] == "BOOKED" and history["entries"][0]["version"] == 1
            code, out, err = run_terminal(bin_dir, nats_server.url, "history", "--deal", other["terms"]["dealId"])
            assert code == 0 and f"REQUISITES_CHANGED {currency} 40702000000000000042 SVYZRUMM (requested by terminal-C1)  → version {change[0]['version']}" in out, out
            code, out, err = run_terminal(bin_dir, nats_server.url, "history", "--deal", "NO-SUCH-DEAL")
            assert code == 1 and "error 404" in err, (code, err)
        settled = next(d for d in page["deals"] if d["settlement"] == "SETTLED")
        code, out, err = run_terminal(bin_dir, nats_server.url, "requisites", "--deal", settled["terms"]["dealId"], "--currency",
                                      settled["terms"]["baseCurrency"], "--account", "40702000000000000043", "--bic", "SVYZRUMM")
        assert code == 1 and "error 409" in err and "requisites are fixed" in err, (code, err)
    finally:
        if simulator is not None:
            stop_pid(simulator)
        stop_pid(netting)
        stop_pid(deal_status)
