"""The outbox for outgoing things (issue 13 section 4) as tables, on `store.tables.metadata`.

Import them from `stationd.store.tables` (which imports this module at its end), so that any
user of the schema has them in the metadata the migrations are compared with.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from stationd.store.tables import TS, BigId, metadata

# What goes out of the station (issue 13 section 4): the shipping notice mail, the shop's
# webhooks, the invoice record's accounting send. A row is written in the transaction of the
# change it tells about and sent by the outgoing worker (services/outgoing.py); `event_id` is
# the id the receiver sees (the mail's Message-ID, the webhook's event id), the same on every
# try, so a send repeated after a crash is one the receiver can drop.
outgoing = Table(
    "outgoing",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("order_id", BigId),
    Column("delivery_id", BigId),
    Column("payload", Text, nullable=False),  # JSON: the facts the sender words
    Column("state", String(10), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("sending_by", String(64)),  # the station whose worker is sending it
    Column("sent_at", TS),
    Column("last_error", Text),
    # The reason as a sentence's template and facts (core.text.text_data), to say it in the
    # reader's language; NULL: plain English only.
    Column("last_error_data", Text),
    CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed')", name="outgoing_state_is_known"
    ),
)
Index("ix_outgoing_due", outgoing.c.state, outgoing.c.next_attempt_at)

# Each try of an outgoing row: when, what came of it, why.
outgoing_attempts = Table(
    "outgoing_attempts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("outgoing_id", BigId, ForeignKey("outgoing.id", ondelete="CASCADE"), nullable=False),
    Column("at", TS, nullable=False),
    Column("station", String(64), nullable=False, server_default=""),
    Column("result", String(12), nullable=False),  # sent | failed | interrupted | resend
    Column("reason", Text),
    Column("reason_data", Text),  # as `outgoing.last_error_data`
)
Index("ix_outgoing_attempts_row", outgoing_attempts.c.outgoing_id)
