"""Engines and transactions for the embedded SQLite file and the central PostgreSQL.

`Store.write()` is the one way to change the database: one transaction, taken up front
(`BEGIN IMMEDIATE` on SQLite, so two writers queue instead of failing half-way), committed when
the block ends, rolled back if it raises.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from stationd.store.write_intent import WriteIntent
from stationd.store.write_queue import BACKGROUND_PATIENCE_S, WriteQueue

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
#: The PostgreSQL advisory-lock key held while migrating ("MIGR" in ASCII).
MIGRATION_LOCK_KEY = 0x4D494752


class StoreError(Exception):
    """The database can't be reached or used; the message says which and why."""


class Store:
    """The station's database: an engine plus transaction helpers."""

    def __init__(self, url: str, *, busy_timeout_s: float = 5.0) -> None:
        self.url = url
        self.busy_timeout_s = busy_timeout_s
        self._write_lock: WriteQueue | None = None
        self._checkpointer: _WalCheckpointer | None = None
        self._intent: WriteIntent | None = None
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    raise StoreError(
                        f"can't make the folder for the database {database}: {err.strerror}"
                    ) from None
            self.engine = create_engine(
                url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
            )
            self._write_lock = WriteQueue()
            if database and database != ":memory:":
                self._checkpointer = _WalCheckpointer(self.engine)
                self._intent = WriteIntent(database, busy_timeout_s)
            _sqlite_setup(self.engine, busy_timeout_s, self._intent)
        elif self.dialect == "postgresql":
            try:
                self.engine = create_engine(
                    url,
                    pool_pre_ping=True,
                    # No prepared statements (psycopg prepares a statement run 5 times): one
                    # lives on the server's session, which a pooler in transaction mode hands
                    # to another client (central behind PgBouncer).
                    connect_args={
                        "connect_timeout": max(1, int(busy_timeout_s)),
                        "prepare_threshold": None,
                    },
                )
            except ImportError as err:  # not installed, or installed without its libpq
                # SQLite is the default; the PostgreSQL driver is an extra of the package.
                raise StoreError(
                    f"a PostgreSQL database needs its driver, which can't be loaded ({err}): "
                    "install the postgres extra (pip install 'stationd[postgres]', or "
                    "pip install -e '.[postgres]' in a checkout)"
                ) from None
        else:
            raise StoreError(
                f"unsupported database {parsed.drivername!r}: use sqlite or postgresql"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def seen_by_other_processes(self) -> bool:
        """False for an in-memory SQLite database: it is this process's alone."""
        return not self.is_sqlite or self.engine.url.database not in (None, "", ":memory:")

    @property
    def writers_waiting(self) -> int:
        """How many writers wait for the SQLite write lock now: this process's, plus one if
        any other process's does (`store.write_intent`). PostgreSQL: 0, its writers wait on
        rows, not on one lock."""
        if self._write_lock is None:
            return 0
        elsewhere = self._intent is not None and self._intent.waiting()
        return self._write_lock.waiting + elsewhere

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading; its transaction ends (rolled back) with the block."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(
        self, *, durable: bool = True, bulk: bool = False, background: bool = False
    ) -> Iterator[Connection]:
        """One write transaction: commit at the end of the block, roll back on an exception.

        `durable=False` returns from the commit without waiting for the disk (SQLite
        ``synchronous=NORMAL`` for this transaction, PostgreSQL ``synchronous_commit=off``):
        a power cut may then lose this transaction (and only the last few such), never leave it
        half done, and never lose a durable one committed after it. Only for facts whose loss
        is harmless — e.g. "the printer took job 7", which at worst prints job 7 again.

        `bulk=True` is for a transaction that rewrites much of the database (a pack-script run
        moving 100,000 orders). On SQLite it gets a page cache that holds what it changes.

        `background=True` is for a short transaction of long work (a pack-script run's chunks):
        on SQLite it waits until no other writer of this process waits, nor wrote just now
        (`store.write_queue`).

        On SQLite no commit copies the WAL into the database file (the checkpoint): a thread of
        its own does, once `CHECKPOINT_FROM_BYTES` of the WAL wait to be copied (after a bulk
        write, at once). SQLite's own automatic checkpoint ran inside the commit that crossed
        1,000 pages — a scan's, while a pack-script run filled the WAL (issue 10).
        """
        # SQLite writers in this process queue here, first come first served
        # (`store.write_queue`), not in SQLite's busy handler: that one sleeps 1, 2, 5, 10… ms
        # between tries, so a thread whose BEGIN IMMEDIATE hit a busy database slept on for
        # milliseconds after the lock was free (the print worker's queue → wire tail). Past
        # the busy timeout it goes ahead and SQLite decides, as before.
        lock = self._write_lock
        locked = lock is not None and lock.acquire(self.busy_timeout_s, background=background)
        if background and self._intent is not None:
            self._intent.let_through(BACKGROUND_PATIENCE_S)  # other processes' writers too
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                    if not durable:
                        _sqlite_synchronous(conn, "NORMAL")
                    if bulk:
                        usual = _sqlite_pragmas(conn, BULK_PRAGMAS)
                try:
                    with conn.begin():
                        if not durable and not self.is_sqlite:
                            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                        yield conn
                finally:
                    if not durable and self.is_sqlite:
                        _sqlite_synchronous(conn, "FULL")
                    if bulk and self.is_sqlite:
                        _sqlite_pragmas(conn, usual)
                    if self._checkpointer is not None:
                        self._checkpointer.request(bulk)
        finally:
            if locked:
                lock.release()  # type: ignore[union-attr]

    def sync_log(self) -> None:
        """Put on disk what writes with `durable=False` committed, without holding the write
        lock (SQLite: the WAL file; PostgreSQL's next durable commit does it anyway)."""
        if self._checkpointer is None:
            return
        try:
            fd = os.open(self._checkpointer.wal, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # checkpointed and gone: on disk
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision (`stationd db upgrade`)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Benches sharing one PostgreSQL may boot together: one migrates, the rest wait.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def revision(self) -> str | None:
        """The schema's current Alembic revision, or None for an empty database."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._intent is not None:
            self._intent.close()
        self.engine.dispose()


def _sqlite_synchronous(conn: Connection, level: str) -> None:
    # Outside any transaction, on the DB-API connection: SQLite refuses to change the safety
    # level inside one, and SQLAlchemy would begin one around a statement of its own.
    try:
        conn.connection.dbapi_connection.execute(f"PRAGMA synchronous={level}")  # type: ignore[union-attr]
    except Exception:
        conn.invalidate()  # never hand a connection of unknown durability back to the pool
        raise


#: The page cache of a bulk write (KiB): the pages one pack-script run changes at 100,000 orders.
BULK_CACHE_KIB = 64 * 1024
#: A bulk write's connection settings.
BULK_PRAGMAS = {"cache_size": -BULK_CACHE_KIB}
#: How much of the WAL, not yet copied into the database file, makes the checkpointer copy it
#: (SQLite's own automatic checkpoint starts at 1,000 pages, ~4 MB).
CHECKPOINT_FROM_BYTES = 4 * 1024 * 1024


def _sqlite_pragmas(conn: Connection, values: dict[str, int]) -> dict[str, int]:
    # Set outside the transaction, like `_sqlite_synchronous`; returns the values they had.
    try:
        driver = conn.connection.dbapi_connection
        before = {}
        for name, value in values.items():
            before[name] = driver.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[union-attr]
            driver.execute(f"PRAGMA {name}={int(value)}")  # type: ignore[union-attr]
    except Exception:
        conn.invalidate()  # never hand a connection with odd settings back to the pool
        raise
    return before


class _WalCheckpointer:
    """Checkpoints the WAL on a thread of its own when asked (after each write's commit), once
    `CHECKPOINT_FROM_BYTES` of it wait to be copied (`uncopied`) or when asked to at once
    (`force`).

    PASSIVE: it never waits for readers or writers, and copies what it can; the next commit
    asks again if a reader held it back.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.wal = f"{engine.url.database}-wal"
        self._wanted = threading.Event()
        self._forced = False
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # The WAL's salts (which change each time SQLite starts it again from its first
        # frame) and how many of its frames were copied, at this checkpointer's last one.
        self._copied: tuple[bytes, int] = (b"", 0)

    def request(self, force: bool = False) -> None:
        if force:
            self._forced = True
        with self._guard:
            if self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        """Finish a checkpoint asked for (the WAL is left small) and end the thread."""
        with self._guard:
            self._stopping = True
            thread = self._thread
        self._wanted.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            forced, self._forced = self._forced, False
            if not (forced or self._stopping or self.uncopied() >= CHECKPOINT_FROM_BYTES):
                continue
            try:
                self.checkpoint()
            except Exception:
                log.warning("WAL checkpoint failed; the next writer's will do", exc_info=True)
            if self._stopping:
                return

    def checkpoint(self) -> None:
        """Copy what it can of the WAL into the database file now (PASSIVE), and note how far."""
        salts = _wal_frames(self.wal, count=False)[0]
        with self._engine.connect() as conn:
            driver = conn.connection.dbapi_connection
            row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
        self._copied = (salts, max(0, row[2]))

    def uncopied(self) -> int:
        """About how many bytes of the WAL wait to be copied into the database file.

        Not the WAL file's size: a checkpoint leaves the file as long as it grew, and SQLite
        writes it again from its first frame. Sized so, every commit after the first
        pack-script run asked for a checkpoint, each with an fsync of the database file beside
        the scan's own (issue 10). The frames written since SQLite last started the WAL again
        carry its salts (sqlite.org/fileformat2.html#walformat); less those this checkpointer
        copied. Another process's checkpoint is not seen: at worst one copies too soon.
        """
        salts, frames, frame_size = _wal_frames(self.wal)
        copied_salts, copied = self._copied
        return max(0, frames - (copied if salts == copied_salts else 0)) * frame_size


#: The WAL file's header, and a frame's header before the page it carries (bytes).
_WAL_HEADER, _FRAME_HEADER = 32, 24


def _wal_frames(wal: str, *, count: bool = True) -> tuple[bytes, int, int]:
    """The WAL's salts, its frames written since SQLite started it again, and a frame's size.

    The WAL file holds no lock of SQLite's (they are on the database and its -shm file, where
    closing a file this process opened would drop them): it is read with a plain open.
    """
    try:
        fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # none yet, or gone with the last connection: nothing to copy
        return b"", 0, 0
    try:
        return _frames_in(fd, count)
    except OSError:
        return b"", 0, 0
    finally:
        os.close(fd)


def _frames_in(fd: int, count: bool) -> tuple[bytes, int, int]:
    head = os.pread(fd, _WAL_HEADER, 0)
    if len(head) < _WAL_HEADER:
        return b"", 0, 0
    salts, frame_size = head[16:24], int.from_bytes(head[8:12], "big") + _FRAME_HEADER
    if not count:
        return salts, 0, frame_size
    # This start's frames come first, each with its salts; after them, older frames.
    low, high = 0, (os.fstat(fd).st_size - _WAL_HEADER) // frame_size
    while low < high:
        middle = (low + high) // 2
        if os.pread(fd, 8, _WAL_HEADER + middle * frame_size + 8) == salts:
            low = middle + 1
        else:
            high = middle
    return salts, low, frame_size


def _sqlite_setup(engine: Engine, busy_timeout_s: float, intent: WriteIntent | None) -> None:
    # pysqlite's own transaction handling defers BEGIN and can't do BEGIN IMMEDIATE; take it
    # over (the recipe in SQLAlchemy's SQLite dialect docs, "Serializable isolation").
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA wal_autocheckpoint=0")  # `_WalCheckpointer` does it
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE" and intent is not None:
            intent.begin_immediate(conn)  # tries every millisecond, not SQLite's backoff
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")


def head_revision() -> str:
    """The newest Alembic revision this code migrates to."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def revision_at(url: str, *, busy_timeout_s: float = 5.0) -> str | None:
    """The schema revision of the database at `url`, changing nothing (for `stationd check`).

    A SQLite file is opened read-only as it is, so that a check run as root leaves no root-owned
    journal file the service can't write; FileNotFoundError when it isn't there. PostgreSQL
    is asked over a connection of its own.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        path = Path(parsed.database or "")
        if not path.is_file():
            raise FileNotFoundError(2, "no database file", str(path))
        # immutable: no -wal or -shm is made; what the last checkpoint wrote is read.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
        finally:
            conn.close()
    store = Store(url, busy_timeout_s=busy_timeout_s)
    try:
        return store.revision()
    finally:
        store.dispose()
