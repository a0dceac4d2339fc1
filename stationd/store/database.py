"""Engines and transactions for the embedded SQLite file and the central PostgreSQL.

`Store.write()` is the one way to change the database: one transaction, taken up front
(`BEGIN IMMEDIATE` on SQLite, so two writers queue instead of failing half-way), committed when
the block ends, rolled back if it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

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
            _sqlite_setup(self.engine, busy_timeout_s)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": max(1, int(busy_timeout_s))},
            )
        else:
            raise StoreError(
                f"unsupported database {parsed.drivername!r}: use sqlite or postgresql"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading; its transaction ends (rolled back) with the block."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: commit at the end of the block, roll back on an exception."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

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
        self.engine.dispose()


def _sqlite_setup(engine: Engine, busy_timeout_s: float) -> None:
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
