"""A station's link to central (docs/sync.md): one transaction at a time on the central
PostgreSQL, answered within a deadline or given up as `CentralAway`.

A cut network makes a connection fail; a stalled one (packets vanish, no reset) leaves a query
waiting for an answer that never comes — libpq has no client-side deadline for that. So each
transaction runs on a worker thread; past the deadline the caller hears `CentralAway` at once
and the connection's socket is shut down under the worker, which then fails too, and its
connection is dropped from the pool (a transaction cut so never committed on the station's
word: whether central committed it, the caller must find out from central later).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

T = TypeVar("T")


class CentralAway(Exception):
    """Central did not answer: the network or the server failed, or no answer came in time.
    Its text says which, for the log and the sync status."""


#: A setting of this program's own sent with the server timeouts at a connection's start: a
#: session that has it is one of central's own; without it, a pooler lends the session per
#: transaction (PgBouncer refuses the startup `options`, or is told to ignore them).
_OWN_SESSION = "stationd.session"
#: Set on a pooled connection's record (`Connection.info`): its transactions set the timeouts.
_PER_TRANSACTION = "stationd_timeouts_per_transaction"


def central_engine(
    url: str, *, timeout_s: float, server_timeouts: bool = True, **pool: Any
) -> Engine:
    """An engine on the central PostgreSQL, the one every part of sync uses: connecting gives
    up after `timeout_s`, and TCP keep-alives break a connection whose network went silent
    (packets vanish, no reset) instead of leaving it waiting. `server_timeouts`: central gives
    up too — on a statement, and on a transaction left idle — after `timeout_s`, so a station
    that went away holds no row lock for long (claims, the push); the pull, whose read-only
    snapshot stays open while the station writes its copy, sets its own per transaction.
    `pool`: create_engine's pool arguments (`pool_pre_ping` costs a round trip a checkout:
    the push and the pull take it, the claims' link — a claim is one round trip — does not).

    Straight on PostgreSQL the timeouts are the session's, given at its start. Behind a
    connection pooler in transaction mode (PgBouncer), which refuses settings at the start or
    drops them, each transaction sets them for itself (`set_config(…, true)`: nothing stays
    on a session the pooler lends to others) and no statement is prepared (a prepared
    statement lives on one server session); see `per_transaction`."""
    args: dict[str, Any] = {
        "connect_timeout": max(2, int(timeout_s + 0.999)),
        "application_name": "stationd-sync",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }
    ms = int(timeout_s * 1000)
    timeouts = (
        {"statement_timeout": ms, "idle_in_transaction_session_timeout": ms}
        if server_timeouts
        else {}
    )
    args["options"] = session_options(timeouts)
    engine = create_engine(url, connect_args=args, **pool)

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        raw, own = open_session(lambda **kw: dialect.connect(*cargs, **kw), cparams)
        record.info[_PER_TRANSACTION] = not own
        return raw

    if timeouts:
        settings = ", ".join(
            f"set_config('{name}', '{value}ms', true)" for name, value in timeouts.items()
        )

        @event.listens_for(engine, "begin")
        def begin(conn: Connection) -> None:
            raw = conn.connection.dbapi_connection
            if per_transaction(conn) and raw is not None and not raw.autocommit:
                # psycopg opens the transaction with this statement (its BEGIN goes first).
                raw.execute(f"SELECT {settings}")

    return engine


def session_options(settings: dict[str, int]) -> str:
    """The startup `options` of a central connection: `settings` (milliseconds) and the mark
    of a session of central's own (`open_session` looks for it)."""
    given = {**settings, _OWN_SESSION: "own"}
    return " ".join(f"-c {name}={value}" for name, value in given.items())


def open_session(connect: Callable[..., Any], params: dict[str, Any]) -> tuple[Any, bool]:
    """A new psycopg connection by `connect(**params)` (`params` with `session_options`), and
    whether it is a session of central's own that kept them — False behind a pooler that
    refused them (PgBouncer: "unsupported startup parameter: options"; connected again without)
    or dropped them (`ignore_startup_parameters`). A pooled connection prepares no statement."""
    try:
        raw = connect(**params)
    except Exception as err:
        if "unsupported startup parameter" not in str(err):
            raise
        raw = connect(**{k: v for k, v in params.items() if k != "options"})
        own = False
    else:
        autocommit = raw.autocommit
        raw.autocommit = True  # one round trip, no transaction left open
        try:
            # part of connecting: bounded as the connect is (a stalled link answers nothing)
            with answered_within(raw, float(params.get("connect_timeout") or 10)):
                found = raw.execute(f"SELECT current_setting('{_OWN_SESSION}', true)").fetchone()
        except BaseException:
            raw.close()
            raise
        finally:
            if not raw.closed:
                raw.autocommit = autocommit
        own = found is not None and found[0] == "own"
    if not own:
        raw.prepare_threshold = None
    return raw, own


def per_transaction(conn: Connection) -> bool:
    """Whether `conn` (a `central_engine`'s) is lent by a pooler: its transactions set the
    timeouts, and a statement outside a transaction runs with none."""
    return bool(conn.connection.info.get(_PER_TRANSACTION))


class CentralLink:
    """Transactions on the central database at `url`, each answered within `timeout_s`."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, workers: int = 4) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.engine = central_engine(
            url, timeout_s=timeout_s, pool_size=workers, max_overflow=0, pool_timeout=timeout_s
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="central")

    def run(
        self,
        work: Callable[[Connection], T],
        *,
        autocommit: bool = False,
        timeout_s: float | None = None,
    ) -> T:
        """`work` in one transaction on central (committed when it returns); its result.
        With `autocommit` each statement of `work` is a transaction of its own — for work
        that is one statement (a claim), this saves the BEGIN and COMMIT round trips.

        Raises `CentralAway` when central cannot be reached or did not answer in time; a
        connection the pool kept from before an outage is tried once more on a new one.
        `timeout_s`: another deadline than the link's for this call.
        """
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        for attempt in (1, 2):
            call = _Call(self.engine, work, autocommit)
            self._pool.submit(call.run)
            if not call.done.wait(deadline_s):
                call.abandon()
                raise CentralAway(f"central did not answer within {deadline_s:g} s")
            if call.error is None:
                return call.value  # type: ignore[return-value]
            err = call.error
            if isinstance(err, DBAPIError) and err.connection_invalidated and attempt == 1:
                continue  # a pooled connection central dropped meanwhile: one new try
            if isinstance(err, OperationalError | InterfaceError) or (
                isinstance(err, DBAPIError) and err.connection_invalidated
            ):
                raise CentralAway(_first_line(err)) from err
            raise err
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close the connections (a worker stuck on a stalled one ends with its deadline)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


class _Call:
    """One transaction on a worker thread, and the means to cut it off."""

    def __init__(self, engine: Any, work: Callable[[Connection], Any], autocommit: bool) -> None:
        self.engine = engine
        self.work = work
        self.autocommit = autocommit
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._abandoned = False

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                with self._lock:
                    if self._abandoned:
                        return
                    self._fd = _socket_of(conn)
                # Through a pooler the timeouts are a transaction's: one statement runs in one.
                if self.autocommit and not per_transaction(conn):
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.begin():
                    self.value = self.work(conn)
        except BaseException as err:  # handed to the caller
            self.error = err
        finally:
            with self._lock:
                self._fd = None
            self.done.set()

    def abandon(self) -> None:
        """The caller gave up: shut the socket down so the worker's wait ends in an error."""
        with self._lock:
            self._abandoned = True
            if self._fd is not None:
                _shut_down(self._fd)


@contextmanager
def cut_when_late(conn: Connection, after_s: float) -> Iterator[None]:
    """Shut `conn`'s socket down when, inside the block, a statement has waited `after_s`
    without an answer: a stalled link (a proxy or NAT that keeps the connection open and never
    answers) then ends in an error, where libpq would wait for ever. Slow work is not cut —
    each statement started or answered begins the wait anew — so `after_s` is to be well
    above central's statement timeout. Only a wait on central counts (libpq has a command
    under way): the station's own work between two statements — a pull writing its copy —
    is no silence of central's, however long. For work on one connection of its own thread
    (the push, the pull); `CentralLink` bounds its calls as a whole."""
    from psycopg.pq import TransactionStatus  # central is PostgreSQL: psycopg is there

    fd = _socket_of(conn)
    pgconn = getattr(conn.connection.dbapi_connection, "pgconn", None)
    lock = threading.Lock()
    heard = [time.monotonic()]
    done = threading.Event()

    def progress(*_: Any) -> None:
        heard[0] = time.monotonic()

    def waiting() -> bool:
        return pgconn is None or pgconn.transaction_status == TransactionStatus.ACTIVE

    def watch() -> None:
        while not done.wait(min(0.25, after_s / 4)):
            if not waiting():
                heard[0] = time.monotonic()  # nothing asked of central now: no wait to time
            elif time.monotonic() - heard[0] >= after_s:
                with lock:  # never after the block: the fd may be another socket's by then
                    if not done.is_set() and fd is not None:
                        _shut_down(fd)
                return

    event.listen(conn, "before_cursor_execute", progress)
    event.listen(conn, "after_cursor_execute", progress)
    threading.Thread(target=watch, name="central-link-watch", daemon=True).start()
    try:
        yield
    finally:
        with lock:
            done.set()
        event.remove(conn, "before_cursor_execute", progress)
        event.remove(conn, "after_cursor_execute", progress)


@contextmanager
def answered_within(raw: Any, after_s: float) -> Iterator[None]:
    """Shut the socket of `raw` (a psycopg connection) down if the block has not ended
    within `after_s`: its wait on central then ends in an error. For the few round trips
    made outside an engine's connection (a new connection's look, the pull's LISTEN)."""
    fd = raw.pgconn.socket
    lock = threading.Lock()
    done = [False]

    def cut() -> None:
        with lock:  # never after the block: the fd may be another socket's by then
            if not done[0]:
                _shut_down(fd)

    timer = threading.Timer(after_s, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done[0] = True
        timer.cancel()


@contextmanager
def guarded_connection(engine: Engine, after_s: float) -> Iterator[Connection]:
    """A connection of `engine` whose every wait on central is cut after `after_s`
    (`cut_when_late`), the pool's ping included: a pooled connection from before an outage
    that does not answer is dropped (the pool's others with it) and a new one taken. Use it
    on an engine without `pool_pre_ping`, whose ping would wait unguarded."""
    with engine.connect() as conn, cut_when_late(conn, after_s):
        try:
            engine.dialect.do_ping(conn.connection.dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            conn.invalidate()
            engine.dispose()
        else:
            yield conn
            return
    with engine.connect() as conn, cut_when_late(conn, after_s):
        yield conn


def _shut_down(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _socket_of(conn: Connection) -> int | None:
    raw = conn.connection.dbapi_connection
    pgconn = getattr(raw, "pgconn", None)
    return pgconn.socket if pgconn is not None else None


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


__all__ = [
    "CentralAway",
    "CentralLink",
    "answered_within",
    "central_engine",
    "cut_when_late",
    "guarded_connection",
    "open_session",
    "session_options",
]
