"""The bench's scan journal row: each scan or touch, what it was read as and what came of it,
written in the scan's own transaction (one row a scan; the replay after a restart and the undo
read it back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stationd.core.barcodes import CodeKind
from stationd.core.bench_outcome import BenchOutcome
from stationd.core.text import text_data
from stationd.events import ScanRead
from stationd.store.bench import journal_scan, journal_text

if TYPE_CHECKING:
    from sqlalchemy import Connection


def journal(
    conn: Connection,
    station: str,
    scan: ScanRead,
    kind: str,
    outcome: BenchOutcome,
    operator_id: int | None,
    undoes: int | None = None,
) -> int:
    """Journal the scan at `station`, naming `operator_id`: the operator signed in at the bench
    as the transaction has it (read in it, after a badge's sign-in). Returns the row's id."""
    return journal_scan(
        conn,
        {
            "at": scan.at,
            "station": station,
            "source": scan.source[:100],
            # A badge's code is a key to sign in with: the journal doesn't repeat it.
            "code": journal_text(scan.code) if kind != CodeKind.BADGE else "OP-…",
            "symbology": (scan.symbology or None) and scan.symbology[:4],
            "kind": kind,
            "ok": outcome.ok,
            "message": outcome.message,
            "message_data": text_data(outcome.message),
            "order_id": outcome.order_id,
            "line_id": outcome.line_id,
            "delta": outcome.delta,
            "undoes_id": undoes,
            "operator_id": operator_id,
        },
    )
