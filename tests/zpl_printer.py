"""A ZPL label printer on a loopback socket, for the tests that print through a running station:
it keeps every job's bytes, answers ``~HS`` as a Zebra does, and can be pulled and plugged back."""

from __future__ import annotations

import socket
import threading
import time

# A Zebra's ~HS answer: three STX…ETX strings; paper out, pause, head open all 0.
HS_ALL_WELL = (
    b"\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\r\n"
    b"\x021234,0\x03\r\n"
)


class ZplServer:
    """A label printer on 127.0.0.1: records every job's bytes; can be stopped and restarted."""

    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.jobs: list[bytes] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def _serve(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while chunk := conn.recv(65536):
                        data += chunk
                        if data == b"~HS":  # a status query: answer "all well" as a Zebra does
                            conn.sendall(HS_ALL_WELL)
                            data = b""
                except OSError:
                    pass
                if data:
                    self.jobs.append(data)

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(2)

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.jobs) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.jobs) >= count, f"{len(self.jobs)} of {count} labels arrived"
