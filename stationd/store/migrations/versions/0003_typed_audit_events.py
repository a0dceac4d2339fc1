"""the audit log typed (core.audit): payloads whose keys were no field names are rewritten

Two kinds stored their values under `from`/`to`, which a dataclass can't name: a line's
quantity change (`{"from": 2, "to": 3}` → `{"old": 2, "new": 3}`) and an own status's rename
(`{"from": {"code", "name"}, "to": {…}}` → `old_code`, `old_name`, `new_code`, `new_name`).
Every other kind reads back as it was written. The table already has what the outbox needs: the
idempotency key (`key`, unique) and `sent_at` (NULL: not sent yet, indexed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 21:00:00
"""

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_events = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("payload", sa.Text),
)

Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


def _quantity_up(p: dict[str, Any]) -> dict[str, Any]:
    if "from" not in p and "to" not in p:
        return p
    rest = {k: v for k, v in p.items() if k not in ("from", "to")}
    return {**rest, "old": p.get("from"), "new": p.get("to")}


def _quantity_down(p: dict[str, Any]) -> dict[str, Any]:
    if "old" not in p and "new" not in p:
        return p
    rest = {k: v for k, v in p.items() if k not in ("old", "new")}
    return {**rest, "from": p.get("old"), "to": p.get("new")}


def _renamed_up(p: dict[str, Any]) -> dict[str, Any]:
    if "from" not in p and "to" not in p:
        return p
    old, new = p.get("from") or {}, p.get("to") or {}
    rest = {k: v for k, v in p.items() if k not in ("from", "to")}
    return {
        **rest,
        "old_code": old.get("code", ""),
        "old_name": old.get("name", ""),
        "new_code": new.get("code", ""),
        "new_name": new.get("name", ""),
    }


def _renamed_down(p: dict[str, Any]) -> dict[str, Any]:
    names = ("old_code", "old_name", "new_code", "new_name")
    if not any(n in p for n in names):
        return p
    rest = {k: v for k, v in p.items() if k not in names}
    return {
        **rest,
        "from": {"code": p.get("old_code", ""), "name": p.get("old_name", "")},
        "to": {"code": p.get("new_code", ""), "name": p.get("new_name", "")},
    }


def _rewrite(rewrites: dict[str, Rewrite]) -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_events.c.id, _events.c.kind, _events.c.payload).where(
            _events.c.kind.in_(list(rewrites))
        )
    ).all()
    changed = []
    for row in rows:
        try:
            payload = json.loads(row.payload or "{}")
        except ValueError:
            continue  # not JSON: left as it is, it reads back as an unknown event
        if not isinstance(payload, dict):
            continue
        new = rewrites[row.kind](payload)
        if new != payload:
            changed.append({"id_": row.id, "payload_": json.dumps(new, ensure_ascii=False)})
    if changed:
        conn.execute(
            _events.update()
            .where(_events.c.id == sa.bindparam("id_"))
            .values(payload=sa.bindparam("payload_")),
            changed,
        )


def upgrade() -> None:
    _rewrite({"order.line_quantity": _quantity_up, "own_status.renamed": _renamed_up})


def downgrade() -> None:
    _rewrite({"order.line_quantity": _quantity_down, "own_status.renamed": _renamed_down})
