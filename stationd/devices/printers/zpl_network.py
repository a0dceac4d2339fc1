"""A ZPL label printer on the network: raw TCP to port 9100 (R20).

A job gets its own connection: connect, send every byte, half-close, and wait for the printer
to close its side too (what CUPS's socket backend calls *waiteof*), so a printer that resets
the connection mid-job is an error, not a printed label. Status is Zebra's ``~HS`` host-status
query, answered on the same socket.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable

from stationd.core.text import sentence
from stationd.devices.printers.printer import offline as _offline

__all__ = ["TcpTransport"]

log = logging.getLogger(__name__)
wire_log = logging.getLogger(__name__ + ".wire")

# A reset seen by send, by shutdown (ENOTCONN: the reset came first) or by the final recv.
_DROPPED = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED})


class TcpTransport:
    """Raw TCP to a printer's port 9100, one connection per job and per status query."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        connect_timeout_s: float = 3.0,
        send_timeout_s: float = 10.0,
        finish_timeout_s: float = 5.0,
        status_timeout_s: float = 1.5,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.finish_timeout_s = finish_timeout_s
        self.status_timeout_s = status_timeout_s
        self.description = f"tcp://{host}:{port}"

    def _connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except ConnectionRefusedError:
            raise _offline(
                sentence("{where} refused the connection", where=self.description)
            ) from None
        except TimeoutError:
            raise _offline(
                sentence(
                    "{where} did not answer within {seconds} s",
                    where=self.description,
                    seconds=f"{self.connect_timeout_s:g}",
                )
            ) from None
        except OSError as err:
            raise _offline(
                sentence(
                    "{where} can't be reached: {why}",
                    where=self.description,
                    why=err.strerror or str(err),
                )
            ) from err

    def write(self, data: bytes) -> None:
        with self._connect() as sock:
            try:
                sock.settimeout(self.send_timeout_s)
                # Since Python 3.5 the timeout bounds the whole sendall, not each send.
                sock.sendall(data)
                wire_log.debug("%s ← %d bytes %r", self.description, len(data), data[:200])
                sock.shutdown(socket.SHUT_WR)
                self._wait_for_close(sock)
            except TimeoutError:
                raise _offline(
                    sentence(
                        "{where} stopped taking data: the job was not sent within {seconds} s",
                        where=self.description,
                        seconds=f"{self.send_timeout_s:g}",
                    )
                ) from None
            except OSError as err:
                if err.errno in _DROPPED:
                    raise _offline(
                        sentence(
                            "{where} dropped the connection mid-job; nothing counts as printed",
                            where=self.description,
                        )
                    ) from None
                raise _offline(f"{self.description}: {err.strerror or err}") from err

    def _wait_for_close(self, sock: socket.socket) -> None:
        # Like CUPS's socket backend with waiteof: after our FIN, the printer closes once it
        # has read everything. A reset here means the job did not arrive whole. A printer that
        # keeps the connection open past the timeout has still taken every byte (sendall),
        # as CUPS also assumes when its wait ends.
        deadline = time.monotonic() + self.finish_timeout_s
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    return
                wire_log.debug("%s → %r", self.description, chunk)
        except TimeoutError:
            log.debug("%s kept the connection open after the job", self.description)

    def query(self, request: bytes, complete: Callable[[bytes], bool]) -> bytes | None:
        with self._connect() as sock:
            reply = b""
            deadline = time.monotonic() + self.status_timeout_s
            try:
                sock.settimeout(self.status_timeout_s)
                sock.sendall(request)
                while not complete(reply):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    sock.settimeout(left)
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    reply += chunk
            except TimeoutError:
                pass
            except OSError as err:
                raise _offline(f"{self.description}: {err.strerror or err}") from err
            wire_log.debug("%s %r → %r", self.description, request, reply)
            return reply

    def close(self) -> None:
        """Nothing stays open between jobs."""
