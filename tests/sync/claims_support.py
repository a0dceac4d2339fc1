"""What the claims tests share: an empty, migrated central PostgreSQL per test (copied from a
template migrated once a session), a station's SQLite working copy, and a TCP proxy the test
controls between a station and central (pass, stall, cut)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from stationd.store.database import Store
from stationd.store.tables import orders


class CentralDatabases:
    """Fresh central databases on the shared server: each a copy of one migrated template."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"stationd_central_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._made: list[str] = []
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        store = Store(self._url(self.template))
        store.upgrade()
        store.dispose()

    def _url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        """A new central database, migrated and empty; its URL."""
        name = f"stationd_central_{uuid.uuid4().hex[:10]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self._made.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.engine.connect() as conn:
            for name in [*self._made, self.template]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


def station_copy(folder: Path, name: str) -> Store:
    """A station's own SQLite store (its working copy), migrated."""
    store = Store(f"sqlite:///{folder / f'{name}.sqlite'}")
    store.upgrade()
    return store


def comment_of(store: Store, order_id: int) -> str | None:
    """The order's comment in `store` (None: no such order there)."""
    with store.read() as conn:
        return conn.execute(
            select(orders.c.comment).where(orders.c.id == order_id)
        ).scalar_one_or_none()


def ended_within(call: Callable[[], object], seconds: float = 60.0) -> object:
    """Run `call` on a thread and give back what it returned or raised; fail if it has not
    ended within `seconds` (a call that must not hang on a stalled link)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as err:
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s (on a stalled link?)"
    return outcome[0]


class TcpProxy:
    """A loopback TCP proxy to `target`: `url_for` gives a database URL through it. `stall()`
        keeps every connection open but forwards nothing more (a partition: packets vanish);
        `cut()` resets every connection and refuses new ones; `heal()` passes again (what a stall
    held back is delivered then, as a late packet would be)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._mode = "pass"
        self._changed = threading.Condition()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url_for(self, url: str) -> str:
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def stall(self, *, replies_only: bool = False) -> None:
        """Forward nothing more (with `replies_only`: the station's requests still reach
        central, its answers never come back)."""
        self._set("stall_replies" if replies_only else "stall")

    def cut(self) -> None:
        self._set("cut")
        with self._changed:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    sock.close()

    def heal(self) -> None:
        self._set("pass")

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()

    def _set(self, mode: str) -> None:
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._mode == "cut":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._changed:
                self._pairs.append((client, upstream))
            for a, b, reply in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, reply), daemon=True).start()

    def _held(self, reply: bool) -> bool:
        return self._mode == "stall" or (self._mode == "stall_replies" and reply)

    def _pump(self, src: socket.socket, dst: socket.socket, reply: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._changed:
                    # A stalled link holds what it read: the far side never gets it.
                    while self._held(reply):
                        self._changed.wait()
                    if self._mode == "cut":
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def proxy_to(url: str) -> Iterator[TcpProxy]:
    """A `TcpProxy` to the server of database `url`, closed at the end."""
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        yield proxy
    finally:
        proxy.close()


class Warehouse:
    """A central and its stations' copies holding the same shop (as pull would leave them):
    products A and B, and packing orders 1000, 1001, … (two A and one B each)."""

    def __init__(self, central: Store, folder: Path, shop_factory: type, orders: int = 4) -> None:
        self.central = central
        self.folder = folder
        self.shop_factory = shop_factory
        self.orders = orders
        self.copies: dict[str, Store] = {}
        self.eans = self.fill(central)

    def fill(self, store: Store) -> dict[str, str]:
        shop = self.shop_factory(store)
        eans = {
            "A": shop.product("A", on_hand=100, name="Termos", number=1),
            "B": shop.product("B", on_hand=100, name="Vantar", number=2),
        }
        for n in range(self.orders):
            shop.order([("A", 2), ("B", 1)], status="packing", order_id=1000 + n, reserve=True)
        return eans

    def copy_for(self, station: str) -> Store:
        """`station`'s SQLite copy, with the same shop."""
        store = station_copy(self.folder, station)
        self.fill(store)
        self.copies[station] = store
        return store

    def close(self) -> None:
        for store in self.copies.values():
            store.dispose()
