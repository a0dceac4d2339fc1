"""zpl_network: ZplPrinter over raw TCP to a loopback printer in this file that records bytes
and can refuse, stall, drop mid-job and answer ``~HS``."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from bus_waits import until
from shipping_labels import hs_reply, make_label

from stationd.devices.printers.printer import Printer, PrinterError, PrinterState
from stationd.devices.printers.zpl_network import TcpTransport
from stationd.devices.printers.zpl_printer import ZplPrinter
from stationd.devices.rendering.zpl import render_zpl

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
    until(lambda: server.connections and len(server.connections[0]) >= 1000)
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
