"""The soak under faults (issue 10): a packing station packing orders while it is killed, its
database stops under it and its printers misbehave — and what the packer was told, checked
against what the database and the printers have at the end.

The parts are real and the script owns them all:
- `stationd serve` in its own process, with a config this script writes, restarted after each
  SIGKILL (and again, after a pause, while a start fails — the database may be away); started
  as systemd starts it, this script holding its NOTIFY_SOCKET and waiting for READY=1;
- a serial scanner on a kernel pty: this script holds the master and writes the scans, the
  station reads the slave;
- an ESC/POS receipt printer and a ZPL label printer on loopback sockets, each of which prints
  (answering DLE EOT / ~HS), refuses connections, stalls (accepts, never reads) or resets a job;
- a PostgreSQL cluster of its own (initdb + pg_ctl as the `postgres` user, its own port and
  folder under a temporary directory), stopped for a few seconds at each outage.

The packer opens an order by its ORD- code, scans its items, CMD-DONE, prints its receipt from
the outbound queue and reports it in on the ship-out page (so its label prints). It looks at the
screen before every scan, as a packer does: after a kill or a scan left unanswered it goes on from
what the bench page shows, once the scans the station kept from before are counted. At the end
the person at the printers looks at each job the station held because its send was cut off: in
the tray already, dropped; not, released.

The ledger holds what the station acknowledged: a scan whose outcome appeared on the bench page's
live stream (/events/bench, a new `data-seq`), a receipt or a report-in whose POST was answered.
At the end, with every fault over and the print queues drained, it is compared with the data:
- acknowledged_lost: an acknowledged scan without its scan-journal row (the rows by read time
  matched to the scans written, in order), an acknowledged report-in with no delivery of the
  order;
- misapplied: a journal row of a scan that changed something (an item counted, an order opened
  or closed) for another order than the one it was read for (each item's EAN belongs to one
  order; a command belongs to the order open when it was written);
- doubled: journal rows of one read (station, source, read time) more than once, and item
  counts of a line beyond the scans written for it;
- jobs: print jobs of the acknowledged receipts and report-ins in the database; jobs_lost: one
  acknowledged and missing, or never got whole by its printer; jobs_doubled: one got whole more
  than once, or more rows than asked for;
- integrity: PostgreSQL's amcheck (bt_index_check on every B-tree index) and a set of
  consistency queries on order lines, deliveries and stock; "ok" or what failed.

    .venv/bin/python bench/faults.py --kills 50 --outages 5 --scans 1000 --seed 1

Bounded in time (--minutes); the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import http.client
import json
import os
import pwd
import queue
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text

from stationd.core.barcodes import s10_check_digit
from stationd.demo import ean13
from stationd.store.database import Store
from stationd.store.tables import order_lines, orders, products, stock

STATION = "soak"
SCANNER = "pty"
SOURCE = f"serial:{SCANNER}"  # what the journal says read a scan of this scanner
DONE = "CMD-DONE"
REPORT, SHIPPED = "report", "shipped"  # the packer's next steps that are no scan
# DLE EOT 1, 2, 4 answered "all well" (fixed bits 0x12), and a Zebra's ~HS answer.
ESCPOS_WELL = 0x12
HS_ALL_WELL = (
    b"\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\r\n"
    b"\x021234,0\x03\r\n"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the database --------------------------------------------------------------------------


class PgCluster:
    """A PostgreSQL cluster of this script's own, run as the `postgres` user."""

    def __init__(self, root: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.dir = root
        self.data = root / "data"
        self.port = free_port()
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{STATION}"
        self._as_postgres(
            self.bin / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def _as_postgres(self, *args: object) -> None:
        command = ["runuser", "-u", "postgres", "--", *map(str, args)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.dir / "pg.log",
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        admin = create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {STATION}"))
        admin.dispose()


# --- the printers ----------------------------------------------------------------------------


class LoopbackPrinter:
    """A raw-TCP printer on 127.0.0.1 (ESC/POS or ZPL). `mode`: "ok" prints (each connection's
    bytes kept when the station closes it), "refuse" (nothing listens), "stall" (accepts and
    reads nothing until healed, then reads on), "reset" (reads a first few bytes, then a TCP
    reset: what it had not read is not printed)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.got: list[bytes] = []  # what it printed: the bytes of each connection
        self.mode = "ok"
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._listen()

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            mode = self.mode
            if mode == "stall":
                with self._lock:
                    self._held.append(conn)
                continue
            threading.Thread(target=self._serve, args=(conn, mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        data = b""
        conn.settimeout(30)
        try:
            if mode == "reset":
                data = conn.recv(8)
                _reset(conn)
                return
            asked = 0  # how far the status requests in `data` are answered
            while chunk := conn.recv(65536):
                data += chunk
                asked = self._answer(conn, data, asked)
        except OSError:
            pass
        finally:
            conn.close()
        if data:
            with self._lock:
                self.got.append(data)

    def _answer(self, conn: socket.socket, data: bytes, asked: int) -> int:
        """Answer the status requests in `data` past `asked`; returns how far it answered."""
        if self.kind == "zpl":
            while (at := data.find(b"~HS", asked)) != -1:
                conn.sendall(HS_ALL_WELL)
                asked = at + 3
            return asked
        while (at := data.find(b"\x10\x04", asked)) != -1 and at + 2 < len(data):
            conn.sendall(bytes([ESCPOS_WELL]))
            asked = at + 3
        return asked

    def fault(self, mode: str) -> bool:
        """Misbehave as `mode` until `heal`; False if it misbehaves already."""
        if self.mode != "ok":
            return False
        self.faults[mode] += 1
        self.mode = mode
        if mode == "refuse" and self._listener is not None:
            # shutdown wakes the accept() blocked in the other thread; close alone would not
            # free the port until it returned.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        return True

    def heal(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:  # a stalled printer that comes back reads on where it stopped
            threading.Thread(target=self._serve, args=(conn, "ok"), daemon=True).start()
        if self._listener is None:
            self._listen()
        self.mode = "ok"

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def times_printed(self, payload: bytes) -> int:
        with self._lock:
            return sum(data.count(payload) for data in self.got)


def _reset(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


# --- the shop --------------------------------------------------------------------------------


@dataclass
class Line:
    id: int
    ean: str
    name: str
    quantity: int


@dataclass
class ShopOrder:
    id: int
    lines: list[Line]


def build_shop(url: str, count: int, rng: random.Random) -> list[ShopOrder]:
    """`count` orders in packing, each with 1–3 lines of 1–3 items; every product (so every
    EAN) belongs to one order only, so a journal row says which order its scan was read for."""
    store = Store(url)
    store.upgrade()
    made: list[ShopOrder] = []
    number = 0
    with store.write() as conn:
        for n in range(count):
            order_id = 7001 + n
            conn.execute(
                insert(orders).values(
                    id=order_id, status="packing", placed_at=datetime.now(UTC), paid=True,
                    customer_name=f"Soak Kund {n}", customer_key=f"soak kund {n}",
                    street="Storgatan 1", postcode="111 22", city="Stockholm",
                )
            )  # fmt: skip
            lines = []
            for position in range(rng.randint(1, 3)):
                number += 1
                sku, code, quantity = f"SOAK-{number}", ean13(90000 + number), rng.randint(1, 3)
                name = f"Soak item {number}"
                conn.execute(
                    insert(products).values(
                        sku=sku, name=name, ean=code, gtin="0" + code, location=f"A-{number}"
                    )
                )
                conn.execute(insert(stock).values(sku=sku, on_hand=quantity, reserved=quantity))
                line_id = conn.execute(
                    insert(order_lines).values(
                        order_id=order_id, position=position, sku=sku, name=name,
                        gtin="0" + code, quantity=quantity,
                    )
                ).inserted_primary_key[0]  # fmt: skip
                lines.append(Line(int(line_id), code, name, quantity))
            made.append(ShopOrder(order_id, lines))
    store.dispose()
    return made


# --- the station -----------------------------------------------------------------------------


class StationProcess:
    """`stationd serve` with this script's config; killed and started again at will."""

    def __init__(self, state_dir: Path, db_url: str, pty_path: str, receipts, labels) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.config = state_dir / "stationd.toml"
        self.config.write_text(
            f"""
[station]
name = "{STATION}"
language = "en"
state_dir = "{state_dir}"
[database]
url = "{db_url}"
[kiosk]
port = {self.port}
sse_heartbeat_s = 1.0
[packscript]
interval_min = 0
[logging]
level = "WARNING"
[[scanners]]
name = "{SCANNER}"
kind = "serial"
port = "{pty_path}"
[[printers]]
name = "receipts"
kind = "escpos"
transport = "network"
host = "127.0.0.1"
port = {receipts.port}
timeout_s = 2.0
[[printers]]
name = "labels"
kind = "zpl"
transport = "network"
host = "127.0.0.1"
port = {labels.port}
timeout_s = 2.0
[print]
receipt = "receipts"
label = "labels"
"""
        )
        self.notify_path = state_dir / "notify.sock"
        self.proc: subprocess.Popen | None = None
        self.failed_starts = 0
        self.starts = 0

    def start(self, deadline: float) -> None:
        """Start serve and wait until it says READY=1 (as systemd hears it: this script holds
        its NOTIFY_SOCKET) and the kiosk answers; a start that fails (serve exits) is tried
        again until `deadline`. READY comes after the scan inbox handed its kept scans to the
        bench, so `settle` can wait for them."""
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                self.notify_path.unlink()
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(str(self.notify_path))
            notify.settimeout(0.1)
            try:
                with (self.state_dir / "serve.log").open("a") as err:
                    self.proc = subprocess.Popen(
                        [sys.executable, "-m", "stationd", "--config", str(self.config), "serve"],
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        env={**os.environ, "NOTIFY_SOCKET": str(self.notify_path)},
                    )
                ready = False
                while time.monotonic() < deadline and self.proc.poll() is None:
                    with contextlib.suppress(TimeoutError):
                        ready = ready or b"READY=1" in notify.recv(4096).split(b"\n")
                    if ready and self._answers():
                        self.starts += 1
                        return
            finally:
                notify.close()
            if self.proc.poll() is not None:
                self.failed_starts += 1
                time.sleep(0.5)
        raise RuntimeError("stationd serve did not come up in time (see serve.log)")

    def settle(self, url: str, until: float) -> None:
        """Wait until every scan the station's inbox kept has reached the scan journal: the
        scans read before a kill are handed to the bench again at start, and their outcomes
        must not be taken for the answer to the packer's next scan. What a packer does by
        eye — wait until the screen stops catching up — done by the station's own records."""
        inbox = self.state_dir / "scan-inbox.jsonl"
        engine = create_engine(url)
        try:
            while time.monotonic() < until and self.alive():
                kept, given_up = set(), set()
                with contextlib.suppress(FileNotFoundError):
                    for raw in inbox.read_bytes().splitlines():
                        with contextlib.suppress(ValueError, KeyError):
                            item = json.loads(raw)
                            key = (item["source"], _as_utc(datetime.fromisoformat(item["at"])))
                            (given_up if item["kind"] == "given_up" else kept).add(key)
                journaled: set[tuple[str, datetime]] = set()
                with contextlib.suppress(Exception), engine.connect() as conn:
                    since = min((at for _, at in kept), default=None)
                    if since is not None:
                        rows = conn.execute(
                            text(
                                "SELECT source, at FROM scan_journal "
                                "WHERE station = :station AND at >= :since"
                            ),
                            {"station": STATION, "since": since},
                        )
                        journaled = {(source, _as_utc(at)) for source, at in rows}
                    if not kept - journaled - given_up:
                        return
                time.sleep(0.05)
        finally:
            engine.dispose()

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/bench/fragment")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


# --- the packer's eyes: the bench page's stream ----------------------------------------------


SEQ = re.compile(r'data-seq="(\d+)"')
SAID = re.compile(r'<span class="said">(.*?)</span>', re.DOTALL)
OPEN = re.compile(r"<h1>Order (\d+)")
ROW = re.compile(r'id="line-(\d+)".*?(?:(\d+) / (\d+)|delivered)', re.DOTALL)


@dataclass
class Screen:
    seq: int = 0
    said: str = ""
    ok: bool = False
    order: int | None = None
    packed: dict[int, tuple[int, int]] = field(default_factory=dict)  # line → (packed, of)

    @classmethod
    def parse(cls, html: str) -> Screen:
        seq = SEQ.search(html)
        said = SAID.search(html)
        opened = OPEN.search(html)
        packed = {}
        for found in ROW.finditer(html):
            if found.group(2) is not None:
                packed[int(found.group(1))] = (int(found.group(2)), int(found.group(3)))
        return cls(
            seq=int(seq.group(1)) if seq else 0,
            said=said.group(1).strip() if said else "",
            ok='class="outcome ok"' in html,
            order=int(opened.group(1)) if opened else None,
            packed=packed,
        )


class BenchStream:
    """An SSE client of /events/bench: each bench fragment it receives, parsed, in a queue."""

    def __init__(self, port: int) -> None:
        self.screens: queue.Queue[Screen] = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(None)
        self.sock.sendall(
            b"GET /events/bench HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n\r\n"
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                buffer += chunk
                while b"\n\n" in buffer:
                    message, buffer = buffer.split(b"\n\n", 1)
                    body = message.decode("utf-8", "replace")
                    if "event: bench" in body:
                        html = "\n".join(
                            line[5:].removeprefix(" ")
                            for line in body.splitlines()
                            if line.startswith("data:")
                        )
                        self.screens.put(Screen.parse(html))

    def newest(self, screen: Screen) -> Screen:
        """The newest screen the stream has brought since `screen` (a glance at the page)."""
        while True:
            try:
                shown = self.screens.get_nowait()
            except queue.Empty:
                return screen
            if shown.seq > screen.seq:
                screen = shown

    def next_outcome(self, after_seq: int, timeout_s: float) -> Screen | None:
        """The first screen with an outcome newer than `after_seq`, or None."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                screen = self.screens.get(timeout=left)
            except queue.Empty:
                return None
            if screen.seq > after_seq:
                return screen
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# --- the ledger ------------------------------------------------------------------------------


@dataclass
class Scan:
    code: str
    read_for: int  # the order it was written for (open on the screen, or named by ORD-)
    sent: datetime
    acked: datetime | None = None
    said: str = ""


@dataclass
class Ledger:
    scans: list[Scan] = field(default_factory=list)
    receipts: set[int] = field(default_factory=set)  # orders whose receipt print was answered
    reported: dict[int, str] = field(default_factory=dict)  # order → parcel id, answered ok
    posts_unanswered: int = 0


# --- the packer ------------------------------------------------------------------------------


class Packer:
    """Packs the shop's orders one after another through the pty and the kiosk."""

    def __init__(self, station: StationProcess, master: int, ledger: Ledger, url: str) -> None:
        self.station = station
        self.url = url
        self.master = master
        self.ledger = ledger
        self.stream: BenchStream | None = None
        self.screen = Screen()
        self.cookie = ""

    # The eyes, after every (re)start.
    def look(self) -> None:
        self.station.settle(self.url, time.monotonic() + 60)
        if self.stream is not None:
            self.stream.close()
        self.stream = BenchStream(self.station.port)
        conn = http.client.HTTPConnection("127.0.0.1", self.station.port, timeout=10)
        # The page, as the touchscreen loads it: its form token comes as a cookie with it (the
        # station's signing secret is in its state dir, so the token outlives a restart).
        conn.request("GET", "/bench", headers={"Cookie": f"stationd_csrf={self.cookie}"})
        response = conn.getresponse()
        html = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("stationd_csrf="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1]
        conn.close()
        if response.status == 200:
            self.screen = Screen.parse(html.split('id="bench"', 1)[-1])

    def scan(self, code: str, read_for: int, wait_s: float) -> Scan:
        assert self.stream is not None
        # What came meanwhile (a kept scan counted while the packer was at ship-out) is on the
        # screen already, not the answer to this scan.
        self.screen = self.stream.newest(self.screen)
        entry = Scan(code, read_for, datetime.now(UTC))
        self.ledger.scans.append(entry)
        os.write(self.master, code.encode() + b"\r")
        shown = self.stream.next_outcome(self.screen.seq, wait_s)
        if shown is not None:
            entry.acked = datetime.now(UTC)
            entry.said = shown.said
            self.screen = shown
        return entry

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str] | None:
        """A form the kiosk posts (htmx); None when no answer came."""
        body = urlencode([*fields, ("csrf_token", self.cookie)])
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            "X-CSRF-Token": self.cookie,
            "Cookie": f"stationd_csrf={self.cookie}",
        }
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.station.port, timeout=20)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.status, response.read().decode("utf-8", "replace")
            conn.close()
            return answer
        except OSError:
            self.ledger.posts_unanswered += 1
            return None

    def next_scan(self, order: ShopOrder) -> str:
        """What to do next for `order`, from the screen: a code to scan, REPORT (packed and
        closed: to ship-out) or SHIPPED (the bench says it is shipped already)."""
        screen = self.screen
        if screen.order != order.id:
            if f"Order {order.id} is packed and ready for ship-out" in screen.said:
                return REPORT
            if f"Order {order.id} is already shipped" in screen.said:
                return SHIPPED
            return f"ORD-{order.id}"
        for line in order.lines:
            packed, of = screen.packed.get(line.id, (0, line.quantity))
            if packed < of:
                return line.ean
        return DONE

    def still_to_ship(self, order: ShopOrder) -> bool | None:
        """Whether the ship-out page lists `order`; None when the page did not answer."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.station.port, timeout=10)
            conn.request("GET", "/shipout")
            response = conn.getresponse()
            html = response.read().decode("utf-8", "replace")
            conn.close()
        except OSError:
            return None
        if response.status != 200:
            return None
        return f'name="order" value="{order.id}"' in html

    def print_receipt(self, order: ShopOrder) -> bool:
        """Print the order's receipt from the outbound queue; True once the kiosk answered
        (a request to confirm a reprint: an earlier, unanswered print went through)."""
        answer = self.post("/queue/print", [("document", "receipt"), ("order", str(order.id))])
        if answer is None or answer[0] != 200:
            return False
        if 'name="confirm"' not in answer[1]:
            self.ledger.receipts.add(order.id)
        return True

    def report_in(self, order: ShopOrder) -> bool:
        serial = f"{order.id:08d}"  # a UPU S10 postal parcel id, as a carrier's label has
        parcel = f"CS{serial}{s10_check_digit(serial)}SE"
        fields = [("order", str(order.id)), (f"parcel-{order.id}", parcel)]
        fields += [(f"qty-{order.id}-{line.id}", str(line.quantity)) for line in order.lines]
        answer = self.post("/shipout/report", fields)
        if answer is not None and answer[0] == 200:
            self.ledger.reported[order.id] = parcel
            return True
        if answer is not None and answer[0] < 500:
            said = re.sub(r"<[^>]+>|\s+", " ", answer[1])
            log(f"report-in of order {order.id} refused ({answer[0]}): {said.strip()[:300]}")
        return False


# --- the faults ------------------------------------------------------------------------------


class Faults:
    """When the kills, outages and printer faults happen: spread at random over the scans."""

    def __init__(self, args: argparse.Namespace, rng: random.Random) -> None:
        span = range(20, max(21, args.scans - 10))
        self.kill_at = set(rng.sample(span, min(args.kills, len(span))))
        self.outage_at = set(rng.sample(span, min(args.outages, len(span))))
        self.printer_at = set(rng.sample(span, min(args.printer_faults, len(span))))
        self.rng = rng


def outage(cluster: PgCluster, seconds: float, mode: str, done: threading.Event) -> None:
    try:
        cluster.stop(mode)
        time.sleep(seconds)
    finally:
        cluster.start()
        done.set()


def printer_fault(printer: LoopbackPrinter, mode: str, seconds: float) -> None:
    if printer.fault(mode):
        time.sleep(seconds)
        printer.heal()


# --- the verdict -----------------------------------------------------------------------------


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def verdict(
    url: str, shop: list[ShopOrder], ledger: Ledger, printers: dict[str, LoopbackPrinter]
) -> dict[str, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        journal = conn.execute(
            text(
                "SELECT at, source, code, order_id, line_id, delta, ok, kind, station "
                "FROM scan_journal WHERE source = :source ORDER BY id"
            ),
            {"source": SOURCE},
        ).all()
        jobs = conn.execute(
            text(
                "SELECT id, printer, document, order_id, state, payload, attempts, printed_at "
                "FROM print_jobs"
            )
        ).all()
        delivered = dict(
            conn.execute(text("SELECT order_id, count(*) FROM deliveries GROUP BY order_id")).all()
        )
        integrity = integrity_checks(conn)
    engine.dispose()

    owner = {line.ean: o.id for o in shop for line in o.lines}
    sent_for_ean = Counter(s.code for s in ledger.scans if s.code in owner)
    by_code: dict[str, list[Scan]] = defaultdict(list)
    for s in ledger.scans:
        by_code[s.code].append(s)

    # acknowledged_lost: an acknowledged scan without its journal row. Which row is a scan's:
    # the pty hands the station the scans in the order they were written, and a row keeps the
    # time its scan was read (a replayed one too), so the rows by read time are the written
    # scans less the lost ones — matched from the newest back, each row to the latest scan of
    # its code written before it was read. Not "read before its outcome": the outcome a packer
    # takes for its scan's may be an earlier scan's (one kept while the database was away, or
    # handed to the bench again after a restart) — counted apart, as acks_before_read.
    read_at = match_reads(ledger.scans, journal)
    acknowledged = [s for s in ledger.scans if s.acked is not None]
    lost_scans = [s for s in acknowledged if id(s) not in read_at]
    acks_before_read = sum(1 for s in acknowledged if read_at.get(id(s), s.acked) > s.acked)
    lost_reports = [o for o in ledger.reported if not delivered.get(o)]

    # misapplied: a row that changed something, for another order than its scan's.
    misapplied = 0
    wrong: list[str] = []
    for row in journal:
        acted = row.ok and (row.delta != 0 or row.code == DONE or row.code.startswith("ORD-"))
        if not acted or row.order_id is None:
            continue
        if row.code in owner:
            read_for = owner[row.code]
        else:
            at = _as_utc(row.at)
            before = [s for s in by_code[row.code] if s.sent <= at]
            if not before:
                continue  # not a scan of this soak's (none is expected)
            read_for = before[-1].read_for
        if row.order_id != read_for:
            misapplied += 1
            wrong.append(f"{row.code} read {row.at:%H:%M:%S.%f} for {read_for}: {row.order_id}")

    # doubled: one read journaled twice; more counts of an item than scans written of it.
    reads_seen = Counter((row.station, row.source, row.at) for row in journal)
    doubled = sum(n - 1 for n in reads_seen.values() if n > 1)
    counted = Counter(row.code for row in journal if row.code in owner and row.delta > 0)
    doubled += sum(max(0, n - sent_for_ean[code]) for code, n in counted.items())

    # jobs: the receipt and the label of every acknowledged print and report-in.
    expected = [(o, "receipt", "receipts") for o in ledger.receipts]
    expected += [(o, "label", "labels") for o in ledger.reported]
    rows = defaultdict(list)
    for job in jobs:
        rows[(job.order_id, job.document)].append(job)
    jobs_lost = jobs_doubled = jobs_count = 0
    twice: list[str] = []
    for order_id, document, printer in expected:
        found = rows.get((order_id, document), [])
        jobs_count += len(found)
        if not found:
            jobs_lost += 1
        jobs_doubled += max(0, len(found) - 1)
        if len(found) > 1:
            twice.append(f"{document} of {order_id}: {len(found)} jobs")
        for job in found:
            times = printers[printer].times_printed(bytes(job.payload))
            jobs_lost += times == 0
            jobs_doubled += max(0, times - 1)
            if times != 1:
                twice.append(
                    f"job {job.id} ({document} of {order_id}) printed {times}x, "
                    f"{job.attempts} attempts, {job.state} at {job.printed_at}"
                )
    return {
        "acknowledged": len(acknowledged),
        "acknowledged_lost": len(lost_scans) + len(lost_reports),
        "misapplied": misapplied,
        "doubled": doubled,
        "jobs": jobs_count,
        "jobs_lost": jobs_lost,
        "jobs_doubled": jobs_doubled,
        "integrity": integrity,
        "_lost_scans": [(s.code, s.read_for, s.said) for s in lost_scans[:10]],
        "_lost_reports": lost_reports[:10],
        "_misapplied_rows": wrong[:10],
        "_jobs_not_once": twice[:10],
        "_jobs_unprinted": sum(1 for j in jobs if j.state != "printed"),
        "_acks_before_read": acks_before_read,
    }


def match_reads(scans: list[Scan], journal) -> dict[int, datetime]:  # type: ignore[no-untyped-def]
    """Each written scan's journal row, as {id(scan): read time}: the rows (one per read) by
    read time are a subsequence of the scans written, matched from the end."""
    rows = sorted({(_as_utc(row.at), row.code) for row in journal}, reverse=True)
    matched: dict[int, datetime] = {}
    index = len(scans) - 1
    for at, code in rows:
        look = index
        while look >= 0 and not (scans[look].code == code and scans[look].sent <= at):
            look -= 1
        if look < 0:
            continue  # not a scan of this soak's, or read before any written: none expected
        matched[id(scans[look])] = at
        index = look - 1
    return matched


CONSISTENCY = {
    "line counts within the ordered quantity": (
        "SELECT count(*) FROM order_lines WHERE packed < 0 OR delivered < 0 "
        "OR packed + delivered > quantity"
    ),
    "shipped orders fully delivered": (
        "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE o.status = 'shipped' AND l.delivered <> l.quantity"
    ),
    "delivered counts are the deliveries' lines": (
        "SELECT count(*) FROM order_lines l WHERE l.delivered <> "
        "(SELECT coalesce(sum(d.quantity), 0) FROM delivery_lines d WHERE d.line_id = l.id)"
    ),
    "stock never negative or over-reserved": (
        "SELECT count(*) FROM stock WHERE on_hand < 0 OR reserved < 0"
    ),
    "a delivery has a parcel id": (
        "SELECT count(*) FROM deliveries d WHERE NOT EXISTS "
        "(SELECT 1 FROM parcel_ids p WHERE p.delivery_id = d.id)"
    ),
}


def integrity_checks(conn) -> str:  # type: ignore[no-untyped-def]
    """amcheck on every B-tree index of the database, then the consistency queries."""
    failed = []
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
    indexes = conn.execute(
        text(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = 'public'"
        )
    ).all()
    for oid, name in indexes:
        try:
            conn.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
        except Exception as exc:  # amcheck's finding is the answer, whatever it is
            failed.append(f"{name}: {str(exc).splitlines()[0]}")
            conn.rollback()
    for what, query in CONSISTENCY.items():
        if conn.execute(text(query)).scalar_one():
            failed.append(what)
    conn.commit()
    return "ok" if not failed else "; ".join(failed)


# --- the run ---------------------------------------------------------------------------------


def soak(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    faults = Faults(args, rng)
    root = Path(tempfile.mkdtemp(prefix="stationd-soak-"))
    pg_root = root / "pg"
    pg_root.mkdir()
    root.chmod(0o755)
    cluster = PgCluster(pg_root)
    cluster.start()
    receipts, labels = LoopbackPrinter("escpos"), LoopbackPrinter("zpl")
    printers = {"receipts": receipts, "labels": labels}
    master, slave = os.openpty()
    tty.setraw(slave)
    state_dir = root / "state"
    state_dir.mkdir()
    station = StationProcess(state_dir, cluster.url, os.ttyname(slave), receipts, labels)
    ledger = Ledger()
    kills = outages = 0
    background: list[threading.Thread] = []
    db_back = threading.Event()
    db_back.set()
    try:
        cluster.create_database()
        shop = build_shop(cluster.url, args.scans // 4 + 10, rng)
        log(f"{len(shop)} orders in packing; cluster on port {cluster.port}; state in {root}")
        station.start(deadline + 120)
        packer = Packer(station, master, ledger, cluster.url)
        time.sleep(1.0)  # the scanner opens its port
        packer.look()
        orders = iter(shop)
        order = next(orders)
        receipt_done = False
        unanswered = 0
        while len(ledger.scans) < args.scans and time.monotonic() < deadline:
            n = len(ledger.scans)
            if n in faults.outage_at:
                faults.outage_at.discard(n)
                outages += 1
                db_back.clear()
                seconds = rng.uniform(args.outage_min_s, args.outage_max_s)
                mode = rng.choice(["fast", "immediate"])
                log(f"scan {n}: database stopped ({mode}) for {seconds:.1f} s")
                thread = threading.Thread(
                    target=outage, args=(cluster, seconds, mode, db_back), daemon=True
                )
                thread.start()
                background.append(thread)
            if n in faults.printer_at:
                faults.printer_at.discard(n)
                printer = rng.choice([receipts, labels])
                mode = rng.choice(["refuse", "stall", "reset"])
                thread = threading.Thread(
                    target=printer_fault,
                    args=(printer, mode, rng.uniform(1.0, 6.0)),
                    daemon=True,
                )
                thread.start()
                background.append(thread)
            if not receipt_done:
                receipt_done = packer.print_receipt(order)
            code = packer.next_scan(order)
            if code == REPORT:
                if packer.report_in(order):
                    order, receipt_done = next(orders), False
                    continue
                listed = packer.still_to_ship(order)
                if listed is False:  # an earlier, unanswered report-in went through
                    order, receipt_done = next(orders), False
                    continue
                time.sleep(0.5)
                if not station.alive():
                    station.start(deadline + 120)
                    packer.look()
                continue
            if code == SHIPPED:
                order, receipt_done = next(orders), False
                continue
            read_for = order.id
            kill_now = n in faults.kill_at
            faults.kill_at.discard(n)
            if kill_now:
                # Mid-scan: the kill lands 0–40 ms after the scan's bytes are written.
                delay = rng.uniform(0.0, 0.04)
                timer = threading.Timer(delay, station.kill)
                timer.start()
            waited = args.outage_max_s + 15 if not db_back.is_set() else 5.0
            entry = packer.scan(code, read_for, 0.5 if kill_now else waited)
            if kill_now:
                timer.join()
                kills += 1
                log(f"scan {n}: SIGKILL ({'answered' if entry.acked else 'unanswered'})")
                station.kill()
                station.start(deadline + 120)
                packer.look()
            elif entry.acked is None:
                unanswered += 1
                if not station.alive():
                    station.start(deadline + 120)
                with contextlib.suppress(OSError):
                    packer.look()
        log(f"{len(ledger.scans)} scans written; settling: faults end, print queues drain")
        db_back.wait(60)
        for thread in background:
            thread.join(60)
        for printer in printers.values():
            printer.heal()
        if not station.alive():
            station.start(time.monotonic() + 120)
        drain(cluster.url, time.monotonic() + args.drain_s)
        attended = attend_held_jobs(cluster.url, printers, packer)
        drain(cluster.url, time.monotonic() + args.drain_s)
        station.stop()
        result = verdict(cluster.url, shop, ledger, printers)
        result["_elapsed_s"] = round(time.monotonic() - started, 1)
        result["_failed_starts"] = station.failed_starts
        result["_unanswered_scans"] = unanswered
        result["_printer_faults"] = {k: dict(p.faults) for k, p in printers.items()}
        result["_orders_reported"] = len(ledger.reported)
        result["_held_for_a_person"] = attended
        return {"kills": kills, "outages": outages, "scans": len(ledger.scans), **result}
    finally:
        station.kill()
        for printer in printers.values():
            printer.close()
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        os.close(master)
        os.close(slave)
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def attend_held_jobs(
    url: str, printers: dict[str, LoopbackPrinter], packer: Packer
) -> dict[str, int]:
    """What the person at the printers does with a job the station held because its send was
    cut off (a kill, or the database lost its "printed" record): looks in the printer's tray —
    there whole: drops the job; not: releases it — through the devices page."""
    engine = create_engine(url)
    with engine.connect() as conn:
        held = conn.execute(
            text(
                "SELECT id, printer, payload FROM print_jobs WHERE state = 'held' "
                "AND last_error LIKE 'The station stopped while sending%' ORDER BY id"
            )
        ).all()
    engine.dispose()
    done: Counter[str] = Counter()
    for job_id, printer, payload in held:
        there = printers[printer].times_printed(bytes(payload)) > 0
        action = "drop" if there else "release"
        answer = packer.post(f"/devices/jobs/{job_id}/{action}", [])
        done[f"{action}ped" if action == "drop" else "released"] += 1
        if answer is None or answer[0] != 200:
            done["not answered"] += 1
    return dict(done)


def drain(url: str, until: float) -> None:
    """Wait until no print job is queued (or `until`): the printers are all well now."""
    engine = create_engine(url)
    try:
        while time.monotonic() < until:
            with contextlib.suppress(Exception), engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM print_jobs WHERE state IN ('queued', 'sending')")
                ).scalar_one()
                if left == 0:
                    return
            time.sleep(0.5)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--outages", type=int, default=5)
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--printer-faults", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=20.0, help="stop writing scans after")
    parser.add_argument("--outage-min-s", type=float, default=2.0)
    parser.add_argument("--outage-max-s", type=float, default=6.0)
    parser.add_argument("--drain-s", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # where a stuck soak is: kill -USR1 <pid>
    # A SIGTERM (timeout, ^C's cousin) still stops the station and the cluster it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        raise SystemExit("runs the PostgreSQL cluster as the postgres user: run it as root")
    result = soak(args)
    for key, value in result.items():
        if key.startswith("_"):
            print(f"{key[1:]:>20}: {value}")
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))


if __name__ == "__main__":
    main()
