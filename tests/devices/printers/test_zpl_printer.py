"""Shipping labels on the wire: ZPL and ESC/POS bytes, and the ZPL printer's three transports.

The ZPL is checked by an independent renderer and a barcode reader — `zplkit` (a Rust ZPL
interpreter) draws the label, `zxing-cpp` reads the barcodes off the picture — so the tests
prove the printed barcodes carry the parcel id and the SSCC, not merely that some bytes were
written. The network printer is a loopback TCP server in this file that records bytes and can
refuse, stall, drop mid-job and answer ``~HS``.

USB: this machine has no USB bus. The USB transport runs through pyusb's real classes
(``usb.core.find``, ``Device``, ``Configuration``, ``Interface``, ``Endpoint``, ``usb.util``);
the only fake is `FakeUsbBackend` below, which stands where libusb would — it implements
pyusb's backend interface (``usb.backend.IBackend``), reporting one printer-class interface
with a bulk OUT and a bulk IN endpoint and keeping track of the kernel driver, the claimed
interface and the bytes written. Like libusb, it refuses to claim an interface the kernel
driver still holds ("resource busy").
"""

from __future__ import annotations

import array
import errno
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import usb.backend
import usb.core
import zplkit
import zxingcpp
from PIL import Image
from zplkit.parse import parse as parse_zpl

from stationd.core.barcodes import gtin_check_digit, parse_gs1
from stationd.core.labels import Receiver, Sender, ShippingLabel
from stationd.devices.printers.printer import Printer, PrinterError, PrinterState
from stationd.devices.printers.zpl_file import FileTransport
from stationd.devices.printers.zpl_network import TcpTransport
from stationd.devices.printers.zpl_printer import ZplPrinter, parse_host_status
from stationd.devices.printers.zpl_usb import UsbTransport
from stationd.devices.rendering.zpl import (
    DPMM_TO_DPI,
    escape_field,
    render_escpos_label,
    render_zpl,
)

SSCC = "37340030680998141" + str(gtin_check_digit("37340030680998141"))
SENDER = Sender("Butiken AB", ("Storgatan 1", "123 45 Stockholm"))
ASCII_RECEIVER = Receiver("Anna Svensson", "Lilla vagen 3", "411 01", "Goteborg", "SE")
NORDIC_RECEIVER = Receiver("Kåre Ødegård ^XZ ~JR", "Ærøgade 5_b", "0150", "Tromsø", "NO")


def make_label(**changes) -> ShippingLabel:
    values = dict(
        sender=SENDER,
        receiver=ASCII_RECEIVER,
        order_id=1042,
        parcel_id="RR473124829GB",
        parcel_number=1,
        parcel_count=2,
        sscc=SSCC,
        weight_g=2351,
        carrier="PostNord MyPack Collect",
    )
    values.update(changes)
    return ShippingLabel(**values)


def render_image(zpl: bytes, dpmm: int = 8) -> Image.Image:
    """Draw ZPL with zplkit, the independent renderer, as a greyscale picture."""
    options = zplkit.Options(profile="specification", dpi=DPMM_TO_DPI[dpmm])
    document = zplkit.render(zpl, options)
    assert len(document.labels) == 1
    raster = document.labels[0].rasterize()
    return Image.frombytes("L", (raster.width, raster.height), raster.pixels)


def barcodes(zpl: bytes, dpmm: int = 8) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(render_image(zpl, dpmm), formats=zxingcpp.BarcodeFormat.Code128)


# --- ZPL: the barcodes, read back off the rendered label -------------------------------------


@pytest.mark.parametrize("dpmm", [6, 8, 12])
@pytest.mark.parametrize(
    "parcel_id",
    ["RR473124829GB", "JJD0001234567890", "370722150123456789", "a-1_b.2/C", "X" * 12 + "7" * 28],
)
def test_the_code128_on_the_label_carries_the_parcel_id(parcel_id, dpmm):
    zpl = render_zpl(make_label(parcel_id=parcel_id), dpmm=dpmm)
    found = barcodes(zpl, dpmm)
    plain = [b for b in found if b.symbology_identifier == "]C0"]
    assert [b.text for b in plain] == [parcel_id]


@pytest.mark.parametrize("dpmm", [6, 8, 12, 24])
def test_the_gs1_128_on_the_label_carries_the_sscc_under_ai_00(dpmm):
    found = barcodes(render_zpl(make_label(), dpmm=dpmm), dpmm)
    gs1 = [b for b in found if b.symbology_identifier == "]C1"]  # FNC1 first: GS1-128
    assert len(gs1) == 1
    assert gs1[0].content_type == zxingcpp.ContentType.GS1
    assert parse_gs1(gs1[0].text) == {"00": SSCC}


def test_a_parcel_without_an_sscc_has_only_the_parcel_id_barcode():
    found = barcodes(render_zpl(make_label(sscc=None)))
    assert [(b.symbology_identifier, b.text) for b in found] == [("]C0", "RR473124829GB")]


@pytest.mark.parametrize(
    ("parcel_id", "modules"),
    [
        ("RR473124829GB", 156),  # start B, RR4, code C, 4 digit pairs, code B, GB
        ("370722150123456789", 134),  # start C, 9 digit pairs
        ("X" * 12 + "7" * 28, 332),  # long: the module narrows to 2 dots to fit
    ],
)
def test_each_barcode_is_as_wide_as_planned_and_inside_the_label_with_quiet_zones(
    parcel_id, modules
):
    zpl = render_zpl(make_label(parcel_id=parcel_id))
    module = int(re.findall(rb"\^BY(\d+),", zpl)[0])
    image = render_image(zpl)
    assert image.size == (800, 1200)
    code = next(b for b in barcodes(zpl) if b.text == parcel_id)
    left, right = code.position.top_left.x, code.position.top_right.x
    assert right - left + 1 == modules * module  # the renderer drew the symbol planned
    assert left >= 10 * module and right < 800 - 10 * module
    assert abs((left + right) / 2 - 400) <= module  # centred


def test_the_zpl_is_one_format_sized_for_the_label_in_utf8():
    zpl = render_zpl(make_label(), dpmm=12, width_mm=100, height_mm=150)
    assert zpl.startswith(b"^XA^CI28^PW1200^LL1800")
    assert zpl.endswith(b"^XZ")
    assert zpl.count(b"^XA") == 1
    assert b"^BCN,360,N,N,N,N^FD>;>800" + SSCC.encode() + b"^FS" in zpl  # 30 mm at 12 dpmm
    assert b"^FH^FD(00) " + SSCC.encode() in zpl
    assert b"^FH^FD2.36 kg^FS" in zpl
    assert b"^FH^FDOrder 1042^FS" in zpl
    assert b"^FH^FDParcel 1 of 2^FS" in zpl


def test_captions_and_decimal_comma_follow_the_language():
    zpl = render_zpl(make_label(), lang="sv")
    assert b"^FH^FDFr_C3_A5n:^FS" in zpl
    assert b"^FH^FDKolli 1 av 2^FS" in zpl
    assert b"^FH^FD2,36 kg^FS" in zpl


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dpmm": 10}, "6, 8, 12 or 24"), ({"width_mm": 50, "height_mm": 80}, "too small")],
)
def test_render_zpl_refuses_a_printer_or_stock_it_cannot_lay_out(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_zpl(make_label(), **kwargs)


# --- ZPL: text that must not turn into commands ----------------------------------------------


def test_field_text_is_hex_escaped_utf8():
    assert escape_field("Kåre ^XZ ~JR_\\") == "K_C3_A5re _5EXZ _7EJR_5F_5C"
    assert escape_field("æøåÆØÅäöÄÖ") == "".join(f"_{b:02X}" for b in "æøåÆØÅäöÄÖ".encode())


def test_nordic_letters_and_zpl_prefixes_in_names_stay_field_data():
    zpl = render_zpl(make_label(receiver=NORDIC_RECEIVER))
    zpl.decode("ascii")  # every byte outside ASCII went out hex-escaped
    assert b"^FH^FDK_C3_A5re _C3_98deg_C3_A5rd _5EXZ _7EJR^FS" in zpl
    assert b"^FH^FD_C3_86r_C3_B8gade 5_5Fb^FS" in zpl
    assert b"^FH^FD0150 Troms_C3_B8^FS" in zpl
    # zplkit's parser frames the format: the ^XZ and ~JR in the name are no commands of it.
    commands = [e.data[:3] for e in parse_zpl(zpl).elements if e.kind != "control_character"]
    assert commands.count(b"^XZ") == 1 and b"~JR" not in commands
    fields = [e.data[3:] for e in parse_zpl(zpl).elements if e.data.startswith(b"^FD")]
    texts = {unescape(data) for data in fields if not data.startswith(b">")}
    assert {"Kåre Ødegård ^XZ ~JR", "Ærøgade 5_b", "0150 Tromsø"} <= texts


def unescape(data: bytes) -> str:
    return re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), data).decode("utf-8")


@pytest.mark.parametrize("text", ["Kåre Ødegård", "Ærøgade", "Tromsø Åsa Älvsjö"])
def test_zplkit_draws_the_escaped_field_as_the_letters_themselves(text):
    # zplkit's font 0 has ASCII glyphs only (the printer's has Latin-1 and more), so this
    # compares one field in bitmap font D: ^FH hex escapes draw exactly what raw UTF-8 draws,
    # and not what the letters without their rings and strokes would.
    def draw(field: bytes) -> bytes:
        zpl = b"^XA^CI28^PW800^LL100^FO10,10^ADN,36,20" + field + b"^FS^XZ"
        return render_image(zpl).tobytes()

    escaped = draw(b"^FH^FD" + escape_field(text).encode("ascii"))
    assert escaped == draw(b"^FD" + text.encode("utf-8"))
    folded = text.translate(str.maketrans("åäöÅÄÖæøÆØ", "aaoAAOaoAO"))
    assert escaped != draw(b"^FD" + folded.encode("ascii"))


# --- ESC/POS ---------------------------------------------------------------------------------


def test_escpos_label_bytes(capsys):
    data = render_escpos_label(make_label(receiver=NORDIC_RECEIVER, parcel_id="JJD0001234567890"))
    capsys.readouterr()  # python-escpos says which barcode renderer it used
    # CODE128 through GS k, function B (73), length, "{B" and the parcel id.
    code = b"{BJJD0001234567890"
    assert b"\x1dh\x78\x1dw\x02" in data  # 120 dots high, 2-dot modules: 3 would not fit
    assert b"\x1dkI" + bytes([len(code)]) + code in data
    # Code page 437 (ESC t 0, selected first) has å at 0x86; Ø needs code page 865 (ESC t 13),
    # which python-escpos switches to: Ø 0x9D, Æ 0x92, ø 0x9B. ^ and ~ are plain text here.
    assert data.index(b"\x1bt\x00") < data.index(b"K\x86re")
    assert (
        b"\x1bE\x01K\x86re \x1bt\r\x9ddeg\x86rd ^XZ ~JR\n\x92r\x9bgade 5_b\n0150 Troms\x9b\n"
        in data
    )
    assert b"SSCC (00) " + SSCC.encode() in data
    assert b"2.36 kg" in data
    assert data.endswith(b"\x1dV\x00") or b"\x1dV" in data[-8:]  # cut


def test_escpos_label_narrows_the_barcode_or_refuses_one_that_cannot_fit():
    assert b"\x1dw\x03" in render_escpos_label(make_label(parcel_id="P-12345"))
    long_id = "X" * 20
    data = render_escpos_label(make_label(parcel_id=long_id), line_dots=576)
    assert b"\x1dw\x02" in data  # 2-dot modules
    with pytest.raises(ValueError, match="too long for a CODE128"):
        render_escpos_label(make_label(parcel_id=long_id), line_dots=384)


# --- ~HS -------------------------------------------------------------------------------------


def hs_reply(paper_out=0, pause=0, head_up=0, ribbon_out=0, over_temp=0) -> bytes:
    return (
        f"\x02030,{paper_out},{pause},1245,000,0,0,0,000,0,0,{over_temp}\x03\r\n"
        f"\x02001,0,{head_up},{ribbon_out},0,2,6,0,00000000,1,000\x03\r\n"
        "\x021234,0\x03\r\n"
    ).encode("ascii")


@pytest.mark.parametrize(
    ("reply", "state", "detail"),
    [
        (hs_reply(), PrinterState.ONLINE, ""),
        (hs_reply(paper_out=1), PrinterState.PAPER_OUT, "out of labels"),
        (hs_reply(head_up=1, paper_out=1), PrinterState.COVER_OPEN, "head is open"),
        (hs_reply(pause=1), PrinterState.ERROR, "paused"),
        (hs_reply(ribbon_out=1), PrinterState.ERROR, "ribbon"),
        (hs_reply(over_temp=1), PrinterState.ERROR, "too hot"),
        (hs_reply()[:40], PrinterState.ONLINE, ""),  # string 1 only, cut short: read as is
        (b"garbage", PrinterState.UNKNOWN, "unreadable"),
    ],
)
def test_host_status_flags(reply, state, detail):
    status = parse_host_status(reply)
    assert status.state is state
    assert detail in status.detail


# --- a printer on the loopback network -------------------------------------------------------


@dataclass
class LoopbackPrinter:
    """A port-9100 printer on 127.0.0.1 (``port`` 0: any free one): records each connection.

    ``mode``: "record" reads until the client's EOF and closes; "linger" reads until EOF but
    keeps its side open; "stall" accepts and never reads; "drop" reads ``drop_after`` bytes and
    resets the connection. ``hs_reply`` is sent back when ``~HS`` arrives (None: stay silent).
    """

    mode: str = "record"
    hs_reply: bytes | None = None
    drop_after: int = 1000
    port: int = 0
    connections: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.mode == "stall":
            self._held.append(conn)
            return
        received = bytearray()
        index = len(self.connections)
        self.connections.append(b"")
        conn.settimeout(5)
        with conn:
            while True:
                want = self.drop_after - len(received) if self.mode == "drop" else 65536
                try:
                    chunk = conn.recv(want)
                except OSError:
                    break
                if not chunk:
                    if self.mode == "linger":
                        self._stop.wait(5)
                    break
                received += chunk
                self.connections[index] = bytes(received)
                if self.mode == "drop" and len(received) >= self.drop_after:
                    # SO_LINGER 0: close sends RST, as a printer that reboots mid-job does.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if received.endswith(b"~HS") and self.hs_reply is not None:
                    conn.sendall(self.hs_reply)

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
        for conn in self._held:
            conn.close()
        self._thread.join(1)


@pytest.fixture
def loopback() -> Iterator[type[LoopbackPrinter]]:
    started: list[LoopbackPrinter] = []

    def start(**kwargs) -> LoopbackPrinter:
        server = LoopbackPrinter(**kwargs)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()


def tcp_printer(port: int, **timeouts) -> ZplPrinter:
    transport = TcpTransport(
        "127.0.0.1",
        port,
        connect_timeout_s=timeouts.get("connect", 1.0),
        send_timeout_s=timeouts.get("send", 0.5),
        finish_timeout_s=timeouts.get("finish", 1.0),
        status_timeout_s=timeouts.get("status", 0.3),
    )
    return ZplPrinter("labels", transport)


def wait_for(predicate, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_zpl_printer_implements_the_printer_protocol():
    printer: Printer = tcp_printer(9)  # checked by the type checker; at run time, by hand:
    for method in ("status", "send", "close"):
        assert callable(getattr(printer, method))
    assert printer.name == "labels"


def test_a_label_sent_over_tcp_arrives_whole_before_send_returns(loopback):
    server = loopback()
    printer = tcp_printer(server.port)
    zpl = render_zpl(make_label())
    printer.send(zpl)
    # send waited for the printer to close: the job is already recorded in full.
    assert server.connections == [zpl]
    printer.send(zpl)
    assert server.connections == [zpl, zpl]  # one connection per job
    printer.close()


def test_status_over_tcp_reads_the_hs_reply_on_the_same_socket(loopback):
    server = loopback(hs_reply=hs_reply(paper_out=1))
    status = tcp_printer(server.port).status()
    assert status.state is PrinterState.PAPER_OUT
    assert server.connections == [b"~HS"]
    server.hs_reply = hs_reply()
    assert tcp_printer(server.port).status().state is PrinterState.ONLINE


def test_a_printer_that_does_not_answer_hs_is_unknown_not_offline(loopback):
    server = loopback(hs_reply=None)
    started = time.monotonic()
    status = tcp_printer(server.port, status=0.3).status()
    assert status.state is PrinterState.UNKNOWN
    assert "did not answer" in status.detail
    assert time.monotonic() - started < 2


def test_a_refused_connection_is_offline_for_send_and_status():
    printer = tcp_printer(free_port())
    with pytest.raises(PrinterError) as raised:
        printer.send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "refused" in raised.value.status.detail
    assert printer.status().state is PrinterState.OFFLINE


def test_a_stalled_printer_times_out_instead_of_hanging(loopback):
    server = loopback(mode="stall")
    printer = tcp_printer(server.port, send=0.5)
    job = b"^XA^FO0,0^GFA,1,1,1,00^FS" * 700_000  # far more than the socket buffers hold
    started = time.monotonic()
    with pytest.raises(PrinterError) as raised:
        printer.send(job)
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "stopped taking data" in raised.value.status.detail
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("size", [2_000, 4_000_000])
def test_a_connection_dropped_mid_job_is_an_error_and_not_printed(loopback, size):
    server = loopback(mode="drop", drop_after=1000)
    job = (b"^XA" + b"^FO0,0^FDx^FS" * size)[:size] + b"^XZ"
    with pytest.raises(PrinterError) as raised:
        tcp_printer(server.port, send=2.0).send(job)
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "dropped the connection" in raised.value.status.detail
    wait_for(lambda: server.connections and len(server.connections[0]) >= 1000)
    assert len(server.connections[0]) < len(job)


def test_a_printer_that_keeps_the_connection_open_has_still_taken_the_job(loopback):
    # As CUPS's socket backend does when its wait for the printer's EOF ends: every byte was
    # sent and nothing was reset, so the job counts as sent — after finish_timeout_s, no more.
    server = loopback(mode="linger")
    started = time.monotonic()
    tcp_printer(server.port, finish=0.3).send(b"^XA^XZ")
    assert 0.25 < time.monotonic() - started < 2
    assert server.connections == [b"^XA^XZ"]


def test_the_printer_coming_back_on_its_port_takes_the_job_again(loopback):
    port = free_port()
    printer = tcp_printer(port)
    with pytest.raises(PrinterError):
        printer.send(b"^XA^XZ")
    assert printer.status().state is PrinterState.OFFLINE
    server = loopback(port=port, hs_reply=hs_reply())  # switched back on
    assert printer.status().state is PrinterState.ONLINE
    printer.send(b"^XA^XZ")
    assert server.connections == [b"~HS", b"^XA^XZ"]


# --- a printer behind a file -----------------------------------------------------------------


def test_a_file_printer_appends_each_job_and_cannot_report_status(tmp_path):
    path = tmp_path / "labels.zpl"
    printer = ZplPrinter("file", FileTransport(path))
    printer.send(b"^XA1^XZ")
    printer.send(b"^XA2^XZ")
    assert path.read_bytes() == b"^XA1^XZ^XA2^XZ"
    assert printer.status().state is PrinterState.UNKNOWN


def test_a_missing_device_node_is_offline_and_never_created():
    path = "/dev/stationd-test-no-such-lp"
    printer = ZplPrinter("lp", FileTransport(path))
    with pytest.raises(PrinterError) as raised:
        printer.send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "plugged in" in raised.value.status.detail
    assert not os.path.exists(path)
    assert printer.status().state is PrinterState.OFFLINE


def test_a_device_write_failing_with_enospc_is_paper_out():
    # usblp says "out of paper" with ENOSPC; /dev/full fails every write with exactly that.
    with pytest.raises(PrinterError) as raised:
        ZplPrinter("lp", FileTransport("/dev/full")).send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.PAPER_OUT


def test_a_device_that_stops_taking_data_times_out(tmp_path):
    # A FIFO stands in for /dev/usb/lp0: nobody at the other end is ENXIO ("not there"), a
    # reader that never reads fills the pipe, and the write must give up instead of hanging.
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    transport = FileTransport(fifo, write_timeout_s=0.3)
    with pytest.raises(PrinterError, match="plugged in"):
        transport.write(b"^XA^XZ")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        started = time.monotonic()
        with pytest.raises(PrinterError, match="stopped taking data"):
            transport.write(b"x" * 1_000_000)
        assert time.monotonic() - started < 2
    finally:
        os.close(reader)


# --- a printer on USB, through pyusb ---------------------------------------------------------

_GET_DESCRIPTOR = 6
_STRING = 3


@dataclass
class FakeUsbPrinter:
    """What the fake backend knows of one attached printer."""

    serial: str = "ZD421-0001"
    vendor: int = 0x0A5F
    product: int = 0x0185
    kernel_driver: bool = True  # usblp bound, as after plugging in
    claimed: bool = False
    written: bytearray = field(default_factory=bytearray)
    replies: list[bytes] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    fail_write: OSError | None = None
    held_elsewhere: bool = False  # another program claimed the interface


class FakeUsbBackend(usb.backend.IBackend):
    """Where libusb would be: pyusb's backend interface over `FakeUsbPrinter` records."""

    def __init__(self, *printers: FakeUsbPrinter) -> None:
        self.printers = list(printers)

    def enumerate_devices(self):
        yield from self.printers

    def get_device_descriptor(self, dev):
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=dev.vendor, idProduct=dev.product,
            bcdDevice=0x0100, iManufacturer=0, iProduct=0, iSerialNumber=3,
            bNumConfigurations=1, address=self.printers.index(dev) + 2, bus=1, port_number=1,
            port_numbers=(1,), speed=3,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev, config):
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=1,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(self, dev, intf, alt, config):
        # Printer class 7, subclass 1, protocol 2 (bidirectional), as Zebra printers report.
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2,
            iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        address = (0x01, 0x81)[ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=2,
            wMaxPacketSize=64, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    def open_device(self, dev):
        if dev not in self.printers:
            raise usb.core.USBError("No such device", -4, errno.ENODEV)
        dev.events.append("open")
        return dev

    def close_device(self, dev_handle):
        dev_handle.events.append("close")

    def get_configuration(self, dev_handle):
        return 1

    def set_configuration(self, dev_handle, config_value):
        dev_handle.events.append(f"set_configuration {config_value}")

    def claim_interface(self, dev_handle, intf):
        if dev_handle.kernel_driver or dev_handle.held_elsewhere:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev_handle.claimed = True
        dev_handle.events.append(f"claim {intf}")

    def release_interface(self, dev_handle, intf):
        dev_handle.claimed = False
        dev_handle.events.append(f"release {intf}")

    def is_kernel_driver_active(self, dev_handle, intf):
        return dev_handle.kernel_driver

    def detach_kernel_driver(self, dev_handle, intf):
        dev_handle.kernel_driver = False
        dev_handle.events.append(f"detach {intf}")

    def attach_kernel_driver(self, dev_handle, intf):
        if dev_handle.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev_handle.kernel_driver = True
        dev_handle.events.append(f"attach {intf}")

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        assert ep == 0x01 and dev_handle.claimed
        if dev_handle.fail_write is not None:
            raise dev_handle.fail_write
        dev_handle.written += data.tobytes()
        if data.tobytes() == b"~HS" and dev_handle.replies:
            pass  # the reply waits for bulk_read
        return len(data)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        assert ep == 0x81 and dev_handle.claimed
        if not dev_handle.replies:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        chunk = dev_handle.replies.pop(0)[: len(buff)]
        buff[: len(chunk)] = array.array("B", chunk)
        return len(chunk)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        # Only GET_DESCRIPTOR(STRING): index 0 is the language list, 3 the serial number.
        assert (bmRequestType, bRequest, wValue >> 8) == (0x80, _GET_DESCRIPTOR, _STRING)
        if wValue & 0xFF == 0:
            payload = struct.pack("<H", 0x0409)
        else:
            payload = dev_handle.serial.encode("utf-16-le")
        descriptor = bytes([2 + len(payload), _STRING]) + payload
        data[: len(descriptor)] = array.array("B", descriptor)
        return len(descriptor)


def usb_printer(backend: FakeUsbBackend, serial: str | None = None) -> ZplPrinter:
    transport = UsbTransport(0x0A5F, 0x0185, serial, backend=backend, status_timeout_s=0.2)
    return ZplPrinter("usb-labels", transport)


def test_usb_detaches_usblp_writes_the_bulk_out_endpoint_and_gives_usblp_back():
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    zpl = render_zpl(make_label())
    printer.send(zpl)
    printer.send(zpl)
    assert bytes(device.written) == zpl + zpl
    assert device.kernel_driver is False  # held between jobs
    printer.close()
    assert device.kernel_driver is True and device.claimed is False
    assert device.events == ["open", "detach 0", "claim 0", "release 0", "attach 0", "close"]


def test_usb_picks_the_printer_by_serial_number():
    first, second = FakeUsbPrinter(serial="A-1"), FakeUsbPrinter(serial="B-2")
    printer = usb_printer(FakeUsbBackend(first, second), serial="B-2")
    printer.send(b"^XA^XZ")
    assert (bytes(first.written), bytes(second.written)) == (b"", b"^XA^XZ")
    printer.close()


def test_usb_resource_busy_is_said_plainly_and_usblp_is_given_back():
    device = FakeUsbPrinter(held_elsewhere=True)
    printer = usb_printer(FakeUsbBackend(device))
    with pytest.raises(PrinterError) as raised:
        printer.send(b"^XA^XZ")
    assert raised.value.status.state is PrinterState.OFFLINE
    assert "busy (resource busy)" in raised.value.status.detail
    assert device.kernel_driver is True  # detached to claim, reattached on the failure
    assert device.events[-2:] == ["attach 0", "close"]


def test_usb_printer_unplugged_mid_job_then_back():
    device = FakeUsbPrinter()
    backend = FakeUsbBackend(device)
    printer = usb_printer(backend)
    device.fail_write = usb.core.USBError("No such device", -4, errno.ENODEV)
    with pytest.raises(PrinterError, match="went away"):
        printer.send(b"^XA^XZ")
    backend.printers.clear()
    with pytest.raises(PrinterError, match="is not connected"):
        printer.send(b"^XA^XZ")
    assert printer.status().state is PrinterState.OFFLINE
    device.fail_write = None
    backend.printers.append(device)
    printer.send(b"^XA^XZ")
    assert bytes(device.written) == b"^XA^XZ"


def test_usb_write_timeout_is_an_error_not_a_hang():
    device = FakeUsbPrinter(fail_write=usb.core.USBTimeoutError("timed out", -7, errno.ETIMEDOUT))
    with pytest.raises(PrinterError, match="stopped taking data"):
        usb_printer(FakeUsbBackend(device)).send(b"^XA^XZ")


def test_usb_status_asks_hs_over_the_bulk_in_endpoint():
    reply = hs_reply(head_up=1)
    device = FakeUsbPrinter(replies=[reply[:30], reply[30:]])  # two USB packets
    printer = usb_printer(FakeUsbBackend(device))
    assert printer.status().state is PrinterState.COVER_OPEN
    assert bytes(device.written) == b"~HS"
    assert printer.status().state is PrinterState.UNKNOWN  # no reply this time: timed out
    printer.close()
