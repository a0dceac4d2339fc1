"""A loopback TCP relay in front of a real PostgreSQL that can cut a connection at the worst
moment for a client: after the server has committed a transaction and before the client hears
so. The client then sees a broken connection and can't know whether its COMMIT took — what a
server stopped (or a network lost) between the two does to it."""

from __future__ import annotations

import contextlib
import socket
import threading

# The COMMIT psycopg sends: a simple-protocol query message ('Q', length, text, NUL).
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class CommitCutter:
    """Relays 127.0.0.1:`port` to the server at `target`. `arm()`: the next COMMIT a client
    sends reaches the server, and the server's answer does not reach the client — its
    connection is cut instead (once; then it relays as before)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._armed = threading.Event()
        #: Set once a COMMIT was let through to the server and its answer kept back.
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        self.cut.clear()
        self._armed.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            committing = threading.Event()
            threading.Thread(
                target=self._to_server, args=(client, server, committing), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(server, client, committing), daemon=True
            ).start()

    def _to_server(self, client: socket.socket, server: socket.socket, committing) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self._armed.is_set() and COMMIT in data:
                    self._armed.clear()
                    committing.set()  # the next bytes from the server answer this COMMIT
                server.sendall(data)
        _close(client, server)

    def _to_client(self, server: socket.socket, client: socket.socket, committing) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if committing.is_set():
                    self.cut.set()
                    break  # committed on the server; the client never hears it
                client.sendall(data)
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
