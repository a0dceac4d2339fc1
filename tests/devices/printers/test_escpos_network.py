"""escpos_network: EscposPrinter over a loopback TCP printer (records, refuses, stalls, drops,
answers DLE EOT)."""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from receipt_orders import make_order

from stationd.core.picklist import build_picklist
from stationd.devices.printers.escpos_network import NetworkTransport
from stationd.devices.printers.escpos_printer import EscposPrinter
from stationd.devices.printers.printer import PrinterError, PrinterState
from stationd.devices.rendering.escpos import render

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
