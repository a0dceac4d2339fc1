"""The ESC/POS receipt printer: exact bytes from python-escpos's Dummy, and EscposPrinter over a
loopback TCP printer (records, refuses, stalls, drops, answers DLE EOT), a pty and a file."""

from __future__ import annotations

import errno
import os
import queue
import socket
import struct
import threading
import time
import tty
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stationd.core.documents import (
    Address,
    Shop,
    build_invoice,
    build_picklist,
    build_picklist_receipt,
    build_receipt,
)
from stationd.core.orders import Order, OrderLine, OrderStatus, PaymentMethod
from stationd.devices.escpos_printer import (
    EscposPrinter,
    FileTransport,
    NetworkTransport,
    SerialTransport,
    UsbTransport,
    parse_status,
)
from stationd.devices.escpos_render import (
    PaperCut,
    PrintedBarcode,
    PrintedLine,
    code128_plan,
    encode_text,
    layout,
    render,
)
from stationd.devices.printer import Printer, PrinterError, PrinterState

ESC, GS = b"\x1b", b"\x1d"
INIT = ESC + b"@"
USA = ESC + b"R\x00"
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
NORMAL = ESC + b"!\x00"
CUT = ESC + b"d\x06" + GS + b"V\x00"  # feed six lines, full cut

# The Nordic letters in CP865 and CP858, from the code page charts (not from Python's codec).
NORDIC = {
    "å": 0x86, "ä": 0x84, "ö": 0x94, "Å": 0x8F, "Ä": 0x8E, "Ö": 0x99,
    "æ": 0x91, "ø": 0x9B, "Æ": 0x92, "Ø": 0x9D,
}  # fmt: skip
SHOP = Shop("Garnboden AB", ("Storgatan 1", "111 22 Stockholm"))
PLACED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def make_order(lines: int = 1, order_id: int = 1042, **kw) -> Order:
    defaults = dict(
        id=order_id,
        status=OrderStatus.PACKING,
        placed_at=PLACED,
        customer_name="Åsa Ødegård",
        paid=True,
        lines=[
            OrderLine(id=1, sku="CAP-1", name="Mössa", quantity=1, unit_price_minor=19900),
            *(
                OrderLine(
                    id=i + 2,
                    sku=f"SKU-{i}",
                    name=f"Ullsockor grå storlek {i} – extra varma",
                    quantity=1 + i % 3,
                    unit_price_minor=14900,
                )
                for i in range(lines - 1)
            ),
        ],
    )
    return Order(**(defaults | kw))


def locations(order: Order) -> dict[str, str]:
    return {"CAP-1": "A-02-1"} | {
        line.sku: f"B-{40 - i}-{i % 4}" for i, line in enumerate(order.lines[1:])
    }


# --- exact bytes -----------------------------------------------------------------------------


def test_picklist_exact_bytes():
    order = make_order()
    data = render(build_picklist(order, locations(order)))
    expected = b"".join(
        [
            INIT,
            USA,
            ESC + b"t\x05",  # CP865, Nordic
            NORMAL + NORMAL + ESC + b"!\x30",  # double width and height
            BOLD_ON,
            b"      Plocklista\n",
            NORMAL + NORMAL + NORMAL + BOLD_OFF,
            ESC + b"a\x01",  # centred
            GS + b"h\x50" + GS + b"w\x03" + GS + b"f\x00" + GS + b"H\x02",  # 80 dots, HRI below
            GS + b"k\x49\x0a{BORD-1042",  # CODE128, 10 bytes, code set B
            ESC + b"a\x00",
            b"\n",
            b"Order: 1042\n",
            b"Datum: 2026-03-01\n",
            b"Kund:  \x8fsa \x9ddeg\x86rd\n",
            BOLD_ON,
            b"Plats  Antal Artikel\n",
            BOLD_OFF,
            b"-" * 42 + b"\n",
            b"A-02-1     1 CAP-1 M\x94ssa\n",
            b"-" * 42 + b"\n",
            b"Antal artiklar" + b" " * 27 + b"1\n",
            CUT,
        ]
    )
    assert data == expected


@pytest.mark.parametrize(
    ("codepage", "profile", "select"),
    [("CP865", None, 5), ("CP858", None, 19), ("CP865", "TSP600", 9)],
)
def test_nordic_letters_are_the_right_bytes_after_the_code_page_is_selected(
    codepage, profile, select
):
    name = "ÅÄÖ åäö ÆØ æø"
    order = make_order(customer_name=name, comment=name)
    data = render(build_picklist(order, {}), codepage=codepage, profile=profile)
    select_at = data.index(ESC + b"t" + bytes([select]))
    expected = bytes(NORDIC[c] if c in NORDIC else ord(c) for c in name)
    assert data.index(expected) > select_at
    assert data.count(ESC + b"t") == 1  # one code page for the whole job
    assert data.index(USA) < select_at  # ESC R 0: '[', ']', '{' print as themselves


def test_decomposed_letters_from_a_web_form_are_composed_before_printing():
    order = make_order(customer_name="A\u030asa O\u0308berg")  # "Åsa Öberg" as macOS sends it
    assert b"Kund:  \x8fsa \x99berg\n" in render(build_picklist(order, {}))


def test_characters_outside_the_code_page_get_readable_stand_ins():
    assert encode_text("Pris 5 € – Łódź", "CP865") == b"Pris 5 EUR - L\xa2dz"  # ó is in CP865
    assert encode_text("5 €", "CP858") == b"5 \xd5"
    assert encode_text("1\u00a0234,50\u00a0kr") == b"1 234,50 kr"
    assert encode_text("中") == b"?"


def test_customer_text_cannot_inject_printer_commands():
    evil = "Bo\x1bp\x00\x19\xfa\x1dV\x00Ek\r\nNext"  # open the drawer, cut, new line
    order = make_order(customer_name=evil, comment=evil)
    data = render(build_picklist(order, {}))
    assert ESC + b"p" not in data
    assert data.count(GS + b"V") == 1  # only the cut at the end
    assert b"Kund:  Bo p  \xa3 V Ek  Next\n" in data  # controls became spaces; \xfa is "ú"


def test_code128_of_the_order_barcode():
    data = render(build_picklist(make_order(order_id=7), {}))
    assert GS + b"k\x49\x07{BORD-7" in data
    # A long order number on 58 mm paper goes in code set C: two digits a byte after "{C".
    order = make_order(order_id=123456789012345678)
    assert code128_plan("ORD-123456789012345678", digits_in_c=True) == (
        ("B", "ORD-"),
        ("C", "123456789012345678"),
    )
    data = render(build_picklist(order, {}), width_chars=32)
    payload = b"{BORD-{C" + bytes([12, 34, 56, 78, 90, 12, 34, 56, 78])
    assert GS + b"k\x49" + bytes([len(payload)]) + payload in data
    assert GS + b"w\x02" in data


def test_code128_plan_keeps_an_odd_digit_in_set_b():
    assert code128_plan("ORD-12345", digits_in_c=True) == (("B", "ORD-1"), ("C", "2345"))
    assert code128_plan("ORD-123", digits_in_c=True) == (("B", "ORD-123"),)
    assert code128_plan("123456", digits_in_c=True) == (("C", "123456"),)
    with pytest.raises(ValueError):
        code128_plan("ORD-1\n")


def test_picklist_lines_print_in_shelf_order():
    order = make_order(lines=12)
    data = render(build_picklist(order, locations(order)))
    places = [line.split(b" ")[0] for line in data.split(b"\n") if line[:2] in (b"A-", b"B-")]
    assert places == [b"A-02-1"] + [b"B-%d-%d" % (n, (40 - n) % 4) for n in range(30, 41)]


def test_combined_document_cuts_after_each_part_and_at_the_end():
    order = make_order(lines=3)
    data = render(build_picklist_receipt(order, locations(order), shop=SHOP))
    assert data.count(CUT) == 2 and data.endswith(CUT)
    picklist_at, receipt_at = data.index(b"Plocklista"), data.index(b"Kvitto")
    assert picklist_at < data.index(CUT) < receipt_at
    assert b"Totalt" in data and b"varav moms 25 %" in data


def test_receipt_and_invoice_render_with_amounts():
    order = make_order(lines=3, payment_method=PaymentMethod.OWN_INVOICE)
    receipt = render(build_receipt(order, shop=SHOP, language="nb", currency="NOK"))
    assert b"Kvittering" in receipt and b"Bel\x9bp" in receipt  # "Beløp"
    assert b"Totalt" + b" " * 27 + b"646,00 kr\n" in receipt
    invoice = render(
        build_invoice(
            order,
            shop=SHOP,
            customer=Address("Åsa", "Gatan 1", "123 45", "Byn"),
            issued=PLACED.date(),
        )
    )
    assert b"Faktura" in invoice and b"123 45 Byn" in invoice and invoice.endswith(CUT)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    name=st.text(max_size=80),
    product=st.text(min_size=1, max_size=120),
    comment=st.text(max_size=200),
    width=st.sampled_from([32, 42, 48]),
)
def test_any_text_fits_the_paper_and_renders(name, product, comment, width):
    order = make_order(customer_name=name, comment=comment)
    order.lines[0].name = product
    for doc in (
        build_picklist(order, {}),
        build_receipt(order, shop=SHOP),
        build_invoice(order, shop=SHOP, customer=Address(name), issued=PLACED.date()),
    ):
        items = layout(doc, width_chars=width)
        for item in items:
            if isinstance(item, PrintedLine):
                assert len(item.text) <= (width // 2 if item.large else width)
                assert all(c >= " " for c in item.text)
        assert isinstance(items[-1], PaperCut)
        assert render(doc, width_chars=width).endswith(CUT)


def test_barcode_module_width_fits_the_paper():
    for width in (32, 42):
        items = layout(build_picklist(make_order(order_id=987654321), {}), width_chars=width)
        (barcode,) = [item for item in items if isinstance(item, PrintedBarcode)]
        assert barcode.module_dots in (2, 3)


# --- status bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "state", "detail"),
    [
        ((0x12, 0x12, 0x12), PrinterState.ONLINE, ""),
        ((0x12, 0x12, 0x1E), PrinterState.ONLINE, "paper is running low"),
        ((0x1A, 0x32, 0x72), PrinterState.PAPER_OUT, "out of paper"),
        ((0x12, 0x12, 0x72), PrinterState.PAPER_OUT, "out of paper"),
        ((0x1A, 0x16, 0x12), PrinterState.COVER_OPEN, "the cover is open"),
        ((0x1A, 0x52, 0x12, 0x1A), PrinterState.ERROR, "the auto-cutter jammed"),
        ((0x1A, 0x12, 0x12), PrinterState.OFFLINE, "the printer is offline"),
        ((None, None, None), PrinterState.UNKNOWN, "did not answer"),
        ((0xFF, 0x12, 0x12), PrinterState.UNKNOWN, "did not answer"),  # not a status byte
    ],
)
def test_parse_status(answers, state, detail):
    status = parse_status(*answers)
    assert status.state is state
    assert detail in status.detail


# --- a printer on the network ----------------------------------------------------------------


class LoopbackPrinter:
    """A raw-TCP printer on 127.0.0.1 in a thread: records each connection's bytes, answers
    DLE EOT n with `answers[n]`, or misbehaves: `stall` (accept, never read) or `drop` (read a
    little, then reset the connection)."""

    def __init__(
        self,
        *,
        answers: dict[int, int] | None = None,
        stall: bool = False,
        drop: bool = False,
        port: int = 0,
    ) -> None:
        self.answers = answers or {}
        self.stall, self.drop = stall, drop
        self.jobs: queue.Queue[bytes] = queue.Queue()
        self.held: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if stall:  # a small window fills fast; accepted sockets inherit it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def transport(self, timeout_s: float = 2.0) -> NetworkTransport:
        return NetworkTransport("127.0.0.1", self.port, timeout_s=timeout_s)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.stall:
                self.held.append(conn)
                continue
            with conn:
                self.jobs.put(self._take(conn))

    def _take(self, conn: socket.socket) -> bytes:
        data, scanned = bytearray(), 0
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if self.drop:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                break
            while (at := data.find(b"\x10\x04", scanned)) != -1 and at + 2 < len(data):
                answer = self.answers.get(data[at + 2])
                if answer is not None:
                    conn.sendall(bytes([answer]))
                scanned = at + 3
        return bytes(data)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone does not
        self.sock.close()
        for conn in self.held:
            conn.close()
        self.thread.join(2)


@pytest.fixture
def loopback() -> Iterator[type[LoopbackPrinter]]:
    made: list[LoopbackPrinter] = []

    def make(**kw) -> LoopbackPrinter:
        made.append(LoopbackPrinter(**kw))
        return made[-1]

    yield make  # type: ignore[misc]
    for server in made:
        server.close()


def free_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_escpos_printer_is_a_printer():
    printer: Printer = EscposPrinter("receipt", FileTransport("/tmp/x"))
    assert printer.name == "receipt"


def test_network_send_delivers_the_exact_bytes_one_connection_per_job(loopback):
    server = loopback()
    printer = EscposPrinter("receipt", server.transport())
    job = render(build_picklist(make_order(lines=40), {}))
    printer.send(job)
    printer.send(b"second")
    assert server.jobs.get(timeout=2) == job
    assert server.jobs.get(timeout=2) == b"second"


def test_network_refused_is_offline_and_says_so():
    printer = EscposPrinter("receipt", NetworkTransport("127.0.0.1", free_port(), timeout_s=1))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"job")
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "refused" in caught.value.status.detail
    assert printer.status().state is PrinterState.OFFLINE


def test_network_stall_times_out_instead_of_hanging(loopback):
    server = loopback(stall=True)
    printer = EscposPrinter("receipt", server.transport(timeout_s=0.3))
    started = time.monotonic()
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x" * 32_000_000)
    assert time.monotonic() - started < 5
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "did not answer within 0.3 s" in caught.value.status.detail


def test_network_drop_mid_job_is_offline(loopback):
    server = loopback(drop=True)
    printer = EscposPrinter("receipt", server.transport(timeout_s=1))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x" * 32_000_000)
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "dropped the connection" in caught.value.status.detail


def test_network_works_again_when_the_printer_comes_back(loopback):
    port = free_port()
    printer = EscposPrinter("receipt", NetworkTransport("127.0.0.1", port, timeout_s=1))
    with pytest.raises(PrinterError):
        printer.send(b"lost?")
    server = loopback(port=port)
    printer.send(b"retried")
    assert server.jobs.get(timeout=2) == b"retried"


@pytest.mark.parametrize(
    ("answers", "state"),
    [
        ({1: 0x1A, 2: 0x32, 4: 0x72}, PrinterState.PAPER_OUT),
        ({1: 0x12, 2: 0x12, 4: 0x12}, PrinterState.ONLINE),
        ({1: 0x1A, 2: 0x16, 4: 0x12}, PrinterState.COVER_OPEN),
        ({}, PrinterState.UNKNOWN),  # a printer that does not answer DLE EOT
    ],
)
def test_network_status_by_dle_eot(loopback, answers, state):
    server = loopback(answers=answers)
    printer = EscposPrinter("receipt", server.transport(timeout_s=0.3))
    started = time.monotonic()
    assert printer.status().state is state
    if answers:  # one round trip, not three timeouts' worth
        assert time.monotonic() - started < 0.3
    printer.close()  # a printable status keeps its connection for the job; none follows here
    # DLE EOT 1, 2 and 4 in one write: one round trip, answers in order.
    assert server.jobs.get(timeout=2) == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"


def test_network_status_then_job_share_one_connection(loopback):
    server = loopback(answers={1: 0x12, 2: 0x12, 4: 0x12})
    printer = EscposPrinter("receipt", server.transport())
    assert printer.status().state is PrinterState.ONLINE
    printer.send(b"\x1b@receipt")
    assert server.jobs.get(timeout=2) == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04\x1b@receipt"
    assert server.jobs.empty()


def test_network_job_after_status_is_not_held_up_by_a_delayed_ack(loopback):
    # After the status answers, the printer's TCP stack acknowledges data late (40 ms and more
    # on Linux); send() ends the job (half-close) so the ACK comes at once.
    server = loopback(answers={1: 0x12, 2: 0x12, 4: 0x12})
    printer = EscposPrinter("receipt", server.transport())
    took = []
    for n in range(9):
        assert printer.status().state is PrinterState.ONLINE
        started = time.monotonic()
        printer.send(b"\x1b@job %d" % n)
        took.append(time.monotonic() - started)
    assert sorted(took)[len(took) // 2] < 0.02
    assert server.jobs.get(timeout=2).endswith(b"\x1b@job 0")


def test_network_trouble_status_lets_go_of_the_connection(loopback):
    server = loopback(answers={1: 0x1A, 2: 0x32, 4: 0x72})  # paper out
    printer = EscposPrinter("receipt", server.transport())
    assert printer.status().state is PrinterState.PAPER_OUT
    # closed without a close(): no job follows, and the printer's one connection is free
    assert server.jobs.get(timeout=2) == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"


# --- serial, over a kernel pty ---------------------------------------------------------------


def test_serial_send_and_paper_out_status_over_a_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        printer = EscposPrinter("receipt", SerialTransport(os.ttyname(slave), timeout_s=0.5))
        printer.send(b"\x1b@hej")
        assert os.read(master, 100) == b"\x1b@hej"

        def answer() -> None:  # each DLE EOT n as it comes, as a printer does
            answers = {1: 0x1A, 2: 0x32, 4: 0x72}
            pending, answered = b"", 0
            while answered < 3:
                pending += os.read(master, 16)
                while len(pending) >= 3 * (answered + 1):
                    os.write(master, bytes([answers[pending[3 * answered + 2]]]))
                    answered += 1

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        assert printer.status().state is PrinterState.PAPER_OUT
        thread.join(2)
        printer.close()
    finally:
        os.close(master)
        os.close(slave)


def test_serial_port_missing_is_offline(tmp_path):
    printer = EscposPrinter("receipt", SerialTransport(str(tmp_path / "ttyUSB9"), timeout_s=0.2))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "is not there" in caught.value.status.detail


# --- USB: no bus here, so a device object with pyusb's interface -----------------------------


class BusyUsbDevice:
    """What usb.core.find returns, for a printer another driver has claimed."""

    class backend:  # mirrors pyusb's attribute
        __module__ = "usb.backend.libusb1"

    class _ctx:  # what usb.util.dispose_resources calls
        @staticmethod
        def dispose(device) -> None:  # type: ignore[no-untyped-def]
            pass

    def is_kernel_driver_active(self, interface: int) -> bool:
        return False

    def set_configuration(self) -> None:
        import usb.core

        raise usb.core.USBError("Resource busy", errno=errno.EBUSY)

    def reset(self) -> None: ...

    def write(self, endpoint, data, timeout=None):  # type: ignore[no-untyped-def]
        import usb.core

        raise usb.core.USBError("Resource busy", errno=errno.EBUSY)


def test_usb_resource_busy_is_explained(monkeypatch):
    import usb.core

    monkeypatch.setattr(usb.core, "find", lambda **kw: BusyUsbDevice())
    printer = EscposPrinter("receipt", UsbTransport(0x04B8, 0x0202, timeout_s=0.2))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    assert "busy (errno 16, resource busy)" in caught.value.status.detail
    assert "usblp" in caught.value.status.detail


def test_usb_printer_not_plugged_in_is_offline(monkeypatch):
    import usb.core

    monkeypatch.setattr(usb.core, "find", lambda **kw: None)
    printer = EscposPrinter("receipt", UsbTransport(0x04B8, 0x0202, timeout_s=0.2))
    status = printer.status()
    assert status.state is PrinterState.OFFLINE
    assert status.detail == "USB 04b8:0202 is not there (unplugged or switched off)."


# --- a file ----------------------------------------------------------------------------------


def test_file_transport_appends_every_job_and_cannot_tell_its_status(tmp_path):
    path = tmp_path / "receipt.bin"
    printer = EscposPrinter("receipt", FileTransport(str(path)))
    assert printer.status().state is PrinterState.UNKNOWN
    job = render(build_picklist(make_order(), {}))
    printer.send(job)
    printer.send(b"two")
    printer.close()
    printer.send(b"three")  # reopened: appends, loses nothing
    printer.close()
    assert path.read_bytes() == job + b"two" + b"three"


def test_file_transport_missing_device_is_offline(tmp_path):
    printer = EscposPrinter("receipt", FileTransport(str(tmp_path / "no" / "lp0")))
    with pytest.raises(PrinterError) as caught:
        printer.send(b"x")
    assert caught.value.status.state is PrinterState.OFFLINE
    gone = EscposPrinter("receipt", FileTransport("/dev/usb/stationd-test-lp9"))
    assert gone.status().state is PrinterState.OFFLINE


def test_file_transport_write_that_never_drains_times_out(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, but never reads: like usblp
    try:
        printer = EscposPrinter("receipt", FileTransport(str(fifo), timeout_s=0.3))
        started = time.monotonic()
        with pytest.raises(PrinterError) as caught:
            printer.send(b"x" * 1_000_000)
        assert time.monotonic() - started < 3
        assert "did not answer within 0.3 s" in caught.value.status.detail
    finally:
        os.close(reader)
