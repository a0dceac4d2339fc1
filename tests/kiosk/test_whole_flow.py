"""The issue's whole flow in a real browser, as a packer lives it on the demo station.

`stationd demo` runs in its own process with a serial scanner on a kernel pty (its
`--scanner-port`); Debian's Chromium, driven by Playwright at the touchscreen's 800×480, does
what the packer touches and the pty carries what the packer scans:

print a pick list from the outbound queue (R9–R11) → scan it at the bench to open the order,
scan the items, a wrong one (R12) → PARTIAL: on to ship-out, a parcel id typed by a
keyboard-wedge scanner and one fetched from the carrier, report in (R13, R14) → open the order
again, pack the rest, a parcel id scanned at the bench, DONE, report in → shipped (R15).

After each step it checks what a user can check: the page, the demo's SQLite file, and the bytes
that reached the simulated printers (<state>/printed/<printer>/: ESC/POS pick lists, ZPL labels
read back with zplkit and zxing-cpp). The screenshots go to test-artifacts/flow-*.png.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import zplkit
import zxingcpp
from browser_support import open_page, screenshot
from demo_process import DemoProcess
from PIL import Image
from zplkit.parse import parse as parse_zpl

from stationd.core.barcodes import Command, command_barcode, order_barcode, s10_check_digit
from stationd.devices.rendering.zpl import DPMM_TO_DPI

#: How long a step may take on a loaded 2-core machine before the test calls it broken.
STEP_MS = 20_000


class PtyScanner:
    """A serial scanner on a kernel pty: each scan is the code and CR, as most scanners send."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)

    def scan(self, code: str) -> None:
        os.write(self.master, code.encode("ascii") + b"\r")

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def scanner() -> Iterator[PtyScanner]:
    scanner = PtyScanner()
    yield scanner
    scanner.close()


@pytest.fixture
def demo(tmp_path: Path, scanner: PtyScanner) -> Iterator[DemoProcess]:
    demo = DemoProcess(tmp_path / "state", "--scanner-port", scanner.port)
    demo.wait_listening()
    yield demo
    code, output = demo.stop()
    assert code == 0, output
    assert "Traceback" not in output


# --- reading what the station did --------------------------------------------------------------


def database(demo: DemoProcess) -> sqlite3.Connection:
    """The demo's SQLite file, read-only (the station is the only writer)."""
    path = demo.state_dir / "stationd.sqlite"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def query(demo: DemoProcess, sql: str, *params: object) -> list[tuple]:
    db = database(demo)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


class Line(NamedTuple):
    """An order line with its product's EAN-13 and shelf place."""

    id: int
    sku: str
    name: str
    quantity: int
    ean: str
    location: str


def packed_and_delivered(demo: DemoProcess, order_id: int) -> dict[int, tuple[int, int]]:
    rows = query(demo, "SELECT id, packed, delivered FROM order_lines WHERE order_id = ?", order_id)
    return {line_id: (packed, delivered) for line_id, packed, delivered in rows}


def audit_trail(demo: DemoProcess, order_id: int) -> list[tuple[str, dict]]:
    """The order's audit events, oldest first: (kind, payload)."""
    rows = query(demo, "SELECT kind, payload FROM events WHERE order_id = ? ORDER BY id", order_id)
    return [(kind, json.loads(payload)) for kind, payload in rows]


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = 30) -> None:
    """Until `check()` holds: for what the station does after the page already answered (a
    print worker writing the bytes out)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def printed(demo: DemoProcess, printer: str) -> list[bytes]:
    folder = demo.state_dir / "printed" / printer
    return [p.read_bytes() for p in sorted(folder.glob(f"{printer}-*.bin"))]


def code128_payloads(escpos: bytes) -> list[str]:
    """The CODE128 barcodes of an ESC/POS job (GS k 73 n data), code sets decoded: {B is text,
    {C is two digits a byte."""
    found = []
    for match in re.finditer(rb"\x1dkI(.)", escpos, flags=re.DOTALL):
        data = escpos[match.end() : match.end() + match.group(1)[0]]
        text, code_set, i = "", None, 0
        while i < len(data):
            if data[i : i + 1] == b"{" and data[i + 1 : i + 2] in (b"A", b"B", b"C"):
                code_set = data[i + 1 : i + 2]
                i += 2
            elif code_set == b"C":
                text += f"{data[i]:02d}"
                i += 1
            else:
                text += chr(data[i])
                i += 1
        found.append(text)
    return found


#: A two-byte UTF-8 letter (å ä ö æ ø …) as a ^FH field escapes it: "_C3_A5".
_ESCAPED_LETTER = re.compile(rb"_[CD][0-9A-F]_[89AB][0-9A-F]")


def label_texts(zpl: bytes) -> set[str]:
    """The text fields of a ZPL label, their ^FH escapes undone."""
    fields = [e.data[3:] for e in parse_zpl(zpl).elements if e.data.startswith(b"^FD")]
    return {
        re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), data).decode("utf-8")
        for data in fields
        if not data.startswith(b">")
    }


def label_barcodes(zpl: bytes) -> list[str]:
    """The CODE128 barcodes of a ZPL label as a reader reads them off the drawn label."""
    # zplkit's font 0 has ASCII glyphs only (the printer's has more): the Swedish letters of the
    # address are drawn as "?" here; the barcode fields are ASCII and stay as they are.
    zpl = _ESCAPED_LETTER.sub(b"_3F", zpl)
    document = zplkit.render(zpl, zplkit.Options(profile="specification", dpi=DPMM_TO_DPI[8]))
    (label,) = document.labels
    raster = label.rasterize()
    image = Image.frombytes("L", (raster.width, raster.height), raster.pixels)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    return [b.text for b in found if b.symbology_identifier == "]C0"]


def s10(serial: int) -> str:
    """A valid UPU S10 parcel id of a registered letter to Sweden."""
    digits = f"{serial:08d}"
    return f"RR{digits}{s10_check_digit(digits)}SE"


#: Notes on the page which elements' server-sent-event streams are open (htmx's SSE extension
#: says so on the element): the bench hears of a scan only once its stream is open.
LISTEN_FOR_STREAMS = """
window.streamsOpen = [];
document.addEventListener('htmx:sseOpen', function (e) { window.streamsOpen.push(e.target.id); });
"""


def wait_for_stream(page, element_id: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        f"window.streamsOpen.includes({json.dumps(element_id)})", timeout=STEP_MS
    )


def shot(page, name: str, readme: str | None = None) -> None:  # type: ignore[no-untyped-def]
    screenshot(page, name, readme)


# --- the flow ----------------------------------------------------------------------------------


def test_r9_to_r15_whole_flow_pick_list_scans_partial_delivery_report_in_and_shipped(
    demo, scanner, browser
):
    # An order in the queue with several lines, none of it delivered yet.
    (order_id,) = query(
        demo,
        "SELECT id FROM orders o WHERE status = 'packing' AND NOT waiting"
        " AND id NOT IN (SELECT order_id FROM deliveries)"
        " AND (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) >= 2"
        # One item of the last line stays for later (below): that line has two or more.
        " AND (SELECT l.quantity FROM order_lines l WHERE l.order_id = o.id"
        "  ORDER BY l.position DESC LIMIT 1) >= 2"
        " AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id"
        "  AND (l.name LIKE '%å%' OR l.name LIKE '%ä%' OR l.name LIKE '%ö%'))"
        " ORDER BY placed_at LIMIT 1",
    )[0]
    lines = [
        Line(*row)
        for row in query(
            demo,
            "SELECT l.id, l.sku, l.name, l.quantity, p.ean, p.location"
            " FROM order_lines l JOIN products p ON p.sku = l.sku"
            " WHERE l.order_id = ? ORDER BY l.position",
            order_id,
        )
    ]
    ((customer,),) = query(demo, "SELECT customer_name FROM orders WHERE id = ?", order_id)
    (wrong_ean, wrong_name) = query(
        demo,
        "SELECT ean, name FROM products WHERE sku NOT IN"
        " (SELECT sku FROM order_lines WHERE order_id = ?) ORDER BY sku LIMIT 1",
        order_id,
    )[0]
    # The packer leaves one item of the last line for later (R14).
    short = lines[-1]
    this_delivery = {line.id: line.quantity - (line is short) for line in lines}
    row = f"#order-{order_id}"

    with open_page(browser, 800, 480) as page:
        page.add_init_script(LISTEN_FOR_STREAMS)
        # --- R9–R11: select the order by touch, print its pick list -------------------------
        page.goto(demo.url + "/queue")
        page.locator(f"{row} td.customer").click()
        page.wait_for_function(
            "!document.querySelector('button.print.picklist').disabled", timeout=STEP_MS
        )
        page.locator("button.print.picklist").click()
        # R10: struck through once the printer took the bytes, live on the page.
        page.wait_for_selector(f'{row} s.printed[data-doc="picklist"]', timeout=STEP_MS)
        # Issue 12, item 12: the tick ends with the print it was made for.
        page.wait_for_function(
            f"!document.querySelector('{row} input[name=order]').checked", timeout=STEP_MS
        )
        shot(page, "flow-01-queue-printed")
        (picklist,) = printed(demo, "receipts")
        assert code128_payloads(picklist) == [order_barcode(order_id)]  # R11: scan to open
        text = picklist[picklist.index(b"\x1bt\x05") :]  # the code page: CP865, Nordic
        flat = re.sub(rb"\s+", b" ", text)
        assert customer.encode("cp865") in flat
        # R11: the lines in shelf order, each with its place, quantity, SKU and Swedish name
        # (å ä ö as CP865 has them, not UTF-8).
        at = [
            flat.index(f"{line.location} {line.quantity} {line.sku} {line.name}".encode("cp865"))
            for line in sorted(lines, key=lambda line: line.location)
        ]
        assert at == sorted(at)
        assert not any(line.name.encode() in picklist for line in lines if not line.name.isascii())

        # --- R12: scan the pick list at the bench, the items, a wrong item ------------------
        page.locator("nav.top a[href='/bench']").click()
        page.wait_for_selector("#bench .idle", timeout=STEP_MS)
        wait_for_stream(page, "bench")
        scanner.scan(order_barcode(order_id))
        page.wait_for_selector(f"#bench tr#line-{lines[0].id}", timeout=STEP_MS)
        assert str(order_id) in page.inner_text("#bench header.order h1")
        for line in lines:
            for n in range(1, this_delivery[line.id] + 1):
                scanner.scan(line.ean)
                page.wait_for_selector(
                    f"#line-{line.id} .packed:text-is('{n} / {line.quantity}')", timeout=STEP_MS
                )
        shot(page, "flow-02-bench", readme="bench")
        assert packed_and_delivered(demo, order_id) == {
            line_id: (n, 0) for line_id, n in this_delivery.items()
        }
        journal_before = query(demo, "SELECT max(id) FROM scan_journal")[0][0]

        scanner.scan(wrong_ean)
        said = page.wait_for_selector("#bench .outcome.error[data-sound=error]", timeout=STEP_MS)
        # "Wrong item: <ean> …", or "Wrong order: <name> belongs to order …" when it is in another.
        assert wrong_ean in said.inner_text() or wrong_name in said.inner_text()
        shot(page, "flow-03-wrong-item", readme="bench-wrong-item")
        assert packed_and_delivered(demo, order_id) == {  # unchanged
            line_id: (n, 0) for line_id, n in this_delivery.items()
        }
        assert query(
            demo, "SELECT code, ok, order_id, delta FROM scan_journal WHERE id > ?", journal_before
        ) == [(wrong_ean, 0, order_id, 0)]

        # --- R13, R14: PARTIAL takes the packer to ship-out ----------------------------------
        scanner.scan(command_barcode(Command.PARTIAL))
        page.wait_for_url(f"**/shipout?order={order_id}", timeout=STEP_MS)
        card = page.locator(row)
        card.wait_for(timeout=STEP_MS)
        page.wait_for_selector(f"{row}.selected", timeout=STEP_MS)
        assert short.name in card.inner_text()

        # A keyboard-wedge scanner types into the page with no field focused, then Enter.
        typed = s10(order_id)
        assert page.evaluate("document.activeElement.tagName") == "BODY"
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"document.getElementById('saved-{order_id}-1').value === {json.dumps(typed)}",
            timeout=STEP_MS,
        )
        assert page.input_value(f"#parcel-{order_id}-1") == typed
        card.locator("button.fetch").click()
        page.wait_for_function(
            f"document.getElementById('parcel-{order_id}-2').value !== ''", timeout=STEP_MS
        )
        fetched = page.input_value(f"#parcel-{order_id}-2")
        assert re.fullmatch(r"C[A-Z]\d{9}SE", fetched)
        assert card.locator(f"input.qty[name^='qty-{order_id}-']").count() == len(lines)
        shot(page, "flow-04-shipout", readme="shipout")

        page.locator("button.report").click()
        outcome = page.locator(f"#outcome-{order_id}")
        outcome.wait_for(timeout=STEP_MS)
        assert "ok" in outcome.get_attribute("class").split()
        # R14: still packing, with what is left.
        assert f"1 × {short.name}" in outcome.locator(".left").inner_text()
        assert typed in outcome.inner_text() and fetched in outcome.inner_text()
        assert page.locator(row).count() == 0  # nothing of it packed and undelivered now
        shot(page, "flow-05-reported", readme="shipout-reported")

        assert query(demo, "SELECT status FROM orders WHERE id = ?", order_id) == [("packing",)]
        assert query(
            demo,
            "SELECT p.parcel_id FROM parcel_ids p JOIN deliveries d ON d.id = p.delivery_id"
            " WHERE d.order_id = ? AND d.reported_at IS NOT NULL ORDER BY p.position",
            order_id,
        ) == [(typed,), (fetched,)]
        # `packed` counts what is packed and not yet delivered.
        assert packed_and_delivered(demo, order_id) == {
            line_id: (0, n) for line_id, n in this_delivery.items()
        }
        # The audit trail: every state change with its event, the wrong item none.
        trail = audit_trail(demo, order_id)
        assert [kind for kind, _payload in trail] == [
            "print.queued",
            *["order.item_packed"] * sum(this_delivery.values()),
            "order.packed_partial",
            "order.parcel_id_added",
            "order.parcel_booked",
            "order.partial_delivery",
        ]
        assert wrong_ean not in json.dumps(trail)
        reported = trail[-1][1]
        assert reported["parcel_ids"] == [typed, fetched]
        assert reported["quantities"] == {str(k): n for k, n in this_delivery.items()}
        wait_until("two labels printed", lambda: len(printed(demo, "labels")) >= 2)
        labels = printed(demo, "labels")
        assert [label_barcodes(label) for label in labels] == [[typed], [fetched]]
        assert all(customer in label_texts(label) for label in labels)

        # --- R15: the rest, another day: open it again, pack, a parcel id, DONE, report in --
        page.locator("nav.top a[href='/bench']").click()
        wait_for_stream(page, "bench")
        scanner.scan(order_barcode(order_id))
        short_row = f"#line-{short.id}"
        page.wait_for_selector(f"{short_row} .packed:text-is('0 / 1')", timeout=STEP_MS)
        scanner.scan(short.ean)
        page.wait_for_selector(f"{short_row} .packed:text-is('1 / 1')", timeout=STEP_MS)
        last = s10(order_id + 1)
        scanner.scan(last)
        page.wait_for_selector(f"#bench .badge.parcel-ids:has-text('{last}')", timeout=STEP_MS)
        assert page.locator("#bench header.order .badge.done").count() == 1  # all packed
        shot(page, "flow-06-bench-rest")
        scanner.scan(command_barcode(Command.DONE))
        goto = page.locator("#bench a.goto")
        goto.wait_for(timeout=STEP_MS)
        goto.click()  # a touch: on to ship-out
        page.wait_for_url(f"**/shipout?order={order_id}", timeout=STEP_MS)
        page.wait_for_selector(f"{row} #parcel-{order_id}-1[value='{last}']", timeout=STEP_MS)
        page.locator("button.report").click()
        outcome.wait_for(timeout=STEP_MS)
        page.wait_for_selector(f"{row}", state="detached", timeout=STEP_MS)
        assert "ok" in outcome.get_attribute("class").split()
        assert outcome.locator(".left").count() == 0
        shot(page, "flow-07-shipped")
        page.reload()  # drawn from the database: not on the list any more
        page.wait_for_selector("#shipout-form", timeout=STEP_MS)
        assert page.locator(row).count() == 0

    assert query(demo, "SELECT status FROM orders WHERE id = ?", order_id) == [("shipped",)]
    assert packed_and_delivered(demo, order_id) == {line.id: (0, line.quantity) for line in lines}
    trail = audit_trail(demo, order_id)[len(trail) :]
    assert [kind for kind, _payload in trail] == [
        "order.item_packed",
        "order.parcel_id_added",
        "order.packed",
        "order.shipped",
    ]
    assert trail[-1][1]["parcel_ids"] == [last]
    assert trail[-1][1]["quantities"] == {str(short.id): 1}
    wait_until("three labels printed", lambda: len(printed(demo, "labels")) >= 3)
    labels = printed(demo, "labels")
    assert [label_barcodes(label) for label in labels] == [[typed], [fetched], [last]]
    assert len(printed(demo, "receipts")) == 1  # the pick list, once
    # Every scan came through the serial scanner's code (R19), none typed in the kiosk.
    assert query(demo, "SELECT DISTINCT source FROM scan_journal WHERE order_id = ?", order_id) == [
        ("serial:serial",)
    ]
