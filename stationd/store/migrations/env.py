"""Alembic environment: run from `Store.upgrade()` with a live connection, or `alembic` CLI."""

from alembic import context
from sqlalchemy import create_engine

from stationd.store.tables import in_metadata, metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    with create_engine(url).begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
        include_name=in_metadata,  # the order-text index is made by hand in 0001
    )
    with context.begin_transaction():
        context.run_migrations()


run()
