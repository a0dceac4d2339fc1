"""`Store.write(bulk=True)` on SQLite: durable as any write, the WAL checkpoint off its commit."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, func, insert, select

from stationd.clock import utcnow
from stationd.store import database
from stationd.store.database import Store
from stationd.store.tables import events


def pragma(conn: Connection, name: str) -> int:
    return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()


def test_a_bulk_write_commits_with_full_sync_and_hands_back_a_plain_connection(sqlite_store):
    with sqlite_store.write(bulk=True) as conn:
        assert pragma(conn, "synchronous") == 2  # FULL: the commit waits for the disk
        assert pragma(conn, "wal_autocheckpoint") == 0
        assert pragma(conn, "cache_size") == -database.BULK_CACHE_KIB
        conn.execute(insert(events).values(key="k1", at=utcnow(), station="s", kind="test"))
    with sqlite_store.write() as conn:  # the pool's one connection, back to the defaults
        assert pragma(conn, "cache_size") == -2000
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 1


def test_a_bulk_commit_leaves_the_wal_checkpoint_to_a_thread(sqlite_store, monkeypatch):
    asked: list[Store] = []
    monkeypatch.setattr(
        database._WalCheckpointer, "request", lambda self, force=False: asked.append(self)
    )
    db_file = Path(sqlite_store.engine.url.database or "")
    before = db_file.stat().st_size
    rows = [
        {"key": f"k{n}", "at": utcnow(), "station": "s", "kind": "test", "payload": "x" * 4000}
        for n in range(1500)  # ~1,500 pages: past the automatic checkpoint's 1,000
    ]

    with sqlite_store.write(bulk=True) as conn:
        conn.execute(insert(events), rows)

    assert len(asked) == 1
    assert db_file.stat().st_size == before  # committed to the WAL, not yet copied back
    monkeypatch.undo()
    asked[0].request()
    sqlite_store.dispose()  # waits for the checkpoint it asked for
    assert db_file.stat().st_size > before + 1000 * 4096
    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 1500


def test_issue10_small_commits_after_a_checkpoint_copy_nothing_until_enough_waits(
    sqlite_store, monkeypatch
):
    # The WAL file keeps the length a bulk write gave it: sized by that, every small commit
    # after the first pack-script run had a checkpoint (and its fsync of the database file).
    monkeypatch.setattr(database._WalCheckpointer, "_run", lambda self: None)  # copied here
    checkpointer = sqlite_store._checkpointer
    db_file = Path(sqlite_store.engine.url.database or "")
    big = [
        {"key": f"k{n}", "at": utcnow(), "station": "s", "kind": "test", "payload": "x" * 4000}
        for n in range(1500)  # ~6 MB of WAL
    ]
    with sqlite_store.write() as conn:
        conn.execute(insert(events), big)
    assert checkpointer.uncopied() >= database.CHECKPOINT_FROM_BYTES
    checkpointer.checkpoint()
    assert checkpointer.uncopied() == 0
    copied = db_file.stat().st_size

    for n in range(20):
        with sqlite_store.write() as conn:
            conn.execute(insert(events).values(key=f"s{n}", at=utcnow(), station="s", kind="t"))

    assert Path(checkpointer.wal).stat().st_size > database.CHECKPOINT_FROM_BYTES  # as long
    assert 0 < checkpointer.uncopied() < database.CHECKPOINT_FROM_BYTES  # little to copy
    with sqlite_store.write() as conn:
        conn.execute(insert(events), [{**row, "key": "again-" + row["key"]} for row in big])
    assert checkpointer.uncopied() >= database.CHECKPOINT_FROM_BYTES
    checkpointer.checkpoint()
    assert checkpointer.uncopied() == 0
    assert db_file.stat().st_size > copied + 1000 * 4096
    with sqlite_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 3020
