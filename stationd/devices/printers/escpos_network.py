"""An ESC/POS printer on the network: raw TCP, port 9100, one connection per job (R20).

One connection per job, as the CUPS socket backend does: a printer that drops idle connections
can't swallow a job, and print servers that print on end-of-connection get one. The status
request before a job is asked on that job's connection (`EscposPrinter.status` keeps it open
when the printer can print, `send` uses and closes it): a second connection per job cost a
connect, an accept and a close on both sides, most of the queue → wire time (issue 3). A job
counts as accepted once the printer's TCP stack has acknowledged every byte (the socket's send
queue is empty), not merely once the bytes left our buffer.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from dataclasses import dataclass
from typing import ClassVar

from escpos.escpos import Escpos
from escpos.printer import Network

from stationd.devices.printers.escpos_transport import EscposTransport

try:  # Linux: bytes not yet acknowledged by the peer (SIOCOUTQ is TIOCOUTQ's number).
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _SIOCOUTQ = None

__all__ = ["NetworkTransport"]


class _NetworkJob(Network):
    """python-escpos's Network, opened and closed without its root-logger INFO lines (one per
    job and per status poll) and with connection errors left as the OSError they are."""

    def open(self, raise_not_found: bool = True) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.settimeout(self.timeout)
        self.device = sock

    def close(self) -> None:
        sock, self._device = self._device, False
        if sock:
            sock.close()


@dataclass(frozen=True, slots=True)
class NetworkTransport(EscposTransport):
    """Where a network ESC/POS printer listens; every connect, write and read has `timeout_s`."""

    host: str
    port: int = 9100
    timeout_s: float = 5.0
    per_job: ClassVar[bool] = True  # a fresh connection for each job, closed after it

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def open(self) -> Escpos:
        """A connected python-escpos handle."""
        handle = _NetworkJob(self.host, self.port, self.timeout_s)
        handle.open()
        return handle

    def finish(self, handle: Escpos) -> None:
        """Half-close, then wait until the peer acknowledged every byte sent and the end of the
        job (Linux SIOCOUTQ reaches 0)."""
        sock = handle._device
        if not isinstance(sock, socket.socket):
            return  # pragma: no cover - python-escpos changed
        # The end of the job first, as CUPS's socket backend does: a print server that prints
        # on end-of-connection gets it now, and a FIN is acknowledged at once. Without it the
        # last data segment waits for the printer's delayed ACK — 40 ms and more on Linux once
        # the status answers made the connection look interactive (RFC 1122 4.2.3.2).
        sock.shutdown(socket.SHUT_WR)
        if _SIOCOUTQ is None:
            return  # pragma: no cover - not Linux
        deadline = time.monotonic() + self.timeout_s
        delay = 0.0002
        while True:
            unacked = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
            if unacked == 0:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(errno.ETIMEDOUT, f"{unacked} bytes not acknowledged")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def ask(self, handle: Escpos, request: bytes, want: int) -> bytes:
        """Send `request` and read up to `want` answer bytes within the timeout."""
        device = handle._device
        deadline = time.monotonic() + self.timeout_s
        answer = b""
        device.sendall(request)  # type: ignore[union-attr]
        while len(answer) < want and (left := deadline - time.monotonic()) > 0:
            device.settimeout(left)  # type: ignore[union-attr]
            try:
                chunk = device.recv(16)  # type: ignore[union-attr]
            except TimeoutError:
                break
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "the printer closed the connection")
            answer += chunk
        device.settimeout(self.timeout_s)  # type: ignore[union-attr]
        return answer
