"""What the outbound queue page shows (R9, R10): a page of the queue and whether it changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stationd.core.orders import Document
from stationd.store.database import Store
from stationd.store.orders import (
    QueueRow,
    count_outbound_queue,
    outbound_queue,
    outbound_queue_mark,
)
from stationd.store.print_queue import waiting_documents
from stationd.store.reads.paging import page_window
from stationd.store.reads.print_jobs import change_mark


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, with the documents of its orders waiting at a printer."""

    rows: list[QueueRow]
    waiting: dict[int, set[Document]]
    total: int
    page: int
    pages: int


def outbound_queue_page(store: Store, *, size: int, choose: Callable[[int], int]) -> QueuePage:
    """The page `choose(pages)` of the queue, `size` orders a page."""
    with store.read() as conn:
        total = count_outbound_queue(conn)
        window = page_window(total, size, choose)
        rows = outbound_queue(conn, limit=size, offset=window.offset)
        waiting = waiting_documents(conn, (row.id for row in rows))
    return QueuePage(rows, waiting, total, window.page, window.pages)


def outbound_queue_changes(store: Store) -> tuple[object, ...]:
    """A value that changes whenever the queue's rows or the jobs waiting at a printer do."""
    with store.read() as conn:
        return (outbound_queue_mark(conn), change_mark(conn))
