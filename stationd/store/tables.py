"""The database schema: one SQLAlchemy MetaData for SQLite and PostgreSQL alike.

Alembic's migrations under `store/migrations/` create exactly this; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

# Named constraints so Alembic migrations (and SQLite batch mode) can address them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator):
    """A point in time, stored as UTC on both engines and read back timezone-aware.

    SQLite keeps a datetime's wall-clock text and drops its offset; PostgreSQL converts to UTC.
    Converting on the way in makes both hold the same instant, and a naive datetime — whose
    zone nobody knows — is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UtcDateTime()
# SQLite only aliases ROWID for INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

products = Table(
    "products",
    metadata,
    Column("sku", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("ean", String(14)),
    Column("gtin", String(14), unique=True),  # normalised to 14 digits for lookup
    Column("location", String(20), nullable=False, server_default=""),
    Column("weight_g", Integer, nullable=False, server_default="0"),
    Column("price_minor", Integer, nullable=False, server_default="0"),
    CheckConstraint("gtin IS NULL OR length(gtin) = 14", name="gtin_has_14_digits"),
)

stock = Table(
    "stock",
    metadata,
    Column("sku", String(40), ForeignKey("products.sku"), primary_key=True),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
)

own_statuses = Table(
    "own_statuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("placed_at", TS, nullable=False),
    Column("customer_name", String(200), nullable=False, server_default=""),
    Column("customer_key", String(200), nullable=False, server_default=""),  # casefolded
    Column("customer_email", String(200), nullable=False, server_default=""),
    Column("street", String(200), nullable=False, server_default=""),
    Column("postcode", String(20), nullable=False, server_default=""),
    Column("city", String(100), nullable=False, server_default=""),
    Column("country", String(2), nullable=False, server_default="SE"),
    Column("payment_method", String(20), nullable=False, server_default="card"),
    Column("paid", Boolean, nullable=False, server_default="0"),
    Column("waiting", Boolean, nullable=False, server_default="0"),
    Column("comment", Text, nullable=False, server_default=""),
    Column("own_status_id", Integer, ForeignKey("own_statuses.id")),
    Column("currency", String(3), nullable=False, server_default="SEK"),
    Column("value_minor", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", TS),
    Column("claimed_by", String(64)),
    Column("claimed_until", TS),
    # The pack-script run that moved the order to packing ("moved by run N" on the order page).
    # No foreign key: only that run writes it, in the transaction that records the run, and
    # checking it costs the run a lookup per order moved (~0.06 s at 85,000).
    Column("packscript_run_id", BigId),
    # Issue 13: an order the shop sent (import or intake API) is known by the shop's name and
    # its own reference, and `import_hash` is the hash of what it sent (core.intake), so the
    # same order sent again is recognised without reading it. The demo's orders have neither.
    Column("shop", String(40), nullable=False, server_default=""),
    Column("shop_ref", String(64)),
    Column("import_hash", String(64)),
    # The customer's language (sv, nb, en) as the shop sent it; empty: not known.
    Column("language", String(2), nullable=False, server_default=""),
    CheckConstraint(
        "status IN ('preorder', 'order', 'packing', 'shipped')", name="status_is_known"
    ),
    # The bench reads these back as core's PaymentMethod: an unknown one must not get in.
    CheckConstraint(
        "payment_method IN ('card', 'invoice', 'own_invoice', 'swish', 'vipps', 'bank')",
        name="payment_method_is_known",
    ),
)
Index("ix_orders_placed_at", orders.c.placed_at)
Index("ix_orders_customer_key", orders.c.customer_key)
Index("ix_orders_value", orders.c.value_minor)
# The order list (R4) runs newest id first: with the id in the key, one of these gives the
# orders of an own status, waiting flag or payment method already in list order.
Index("ix_orders_own_status", orders.c.own_status_id, orders.c.id)
Index("ix_orders_waiting", orders.c.waiting, orders.c.id)
Index("ix_orders_payment", orders.c.payment_method, orders.c.id)
Index("ux_orders_shop_ref", orders.c.shop, orders.c.shop_ref, unique=True)

#: The index of customer names and e-mails for the order search (R4), kept by the migrations
#: and not in `metadata`: neither engine's kind is a plain table or index — SQLite's is an FTS5
#: trigram table (`orders_text`, with its shadow tables and triggers), PostgreSQL's a table
#: (`orders_text`, `store/postgres_tables.py`) with a pg_trgm GIN index (`orders_text_trgm`).
ORDER_TEXT_INDEX = "orders_text"
#: Central's change feed (`sync_changes`, `sync_changes_pruned`, their triggers), made by
#: migration 0008 on PostgreSQL only and not in `metadata`: a station's SQLite keeps none.
CHANGE_FEED = "sync_changes"

#: What differs by engine, kept by the migrations and not in `metadata` (0006): the order
#: status is indexed on `orders` on SQLite (ix_orders_queue on status, waiting, placed_at;
#: ix_orders_status on status, id) and in the narrow `order_states` table on PostgreSQL, so
#: that the pack script's update of `orders` there touches no index (`store/postgres_tables`).
ENGINE_SPECIFIC = frozenset({"ix_orders_queue", "ix_orders_status"})
_ENGINE_SPECIFIC_PREFIXES = (ORDER_TEXT_INDEX, "order_states", "ix_order_states")


def in_metadata(name: str | None, type_: str, parent_names: object = None) -> bool:
    """Alembic's `include_name`: everything but what differs by engine and central's change
    feed, which `metadata` lacks (the order-text index, the status indexes, `order_states`,
    `sync_changes`)."""
    name = name or ""
    return name not in ENGINE_SPECIFIC and not name.startswith(
        (*_ENGINE_SPECIFIC_PREFIXES, CHANGE_FEED)
    )


order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("sku", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("gtin", String(14)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", Integer, nullable=False, server_default="0"),
    Column("packed", Integer, nullable=False, server_default="0"),
    Column("delivered", Integer, nullable=False, server_default="0"),
    # The VAT rate in hundredths of a percent (2500 = 25 %) as the shop sent it; NULL: the
    # shop's standard rate ([shop] vat_percent).
    Column("vat_rate_bp", Integer),
    # No `reserved` count: what a line holds follows from its order's state
    # (core.orders.line_reservation), and keeping a copy cost the pack script 85,000 updates.
    CheckConstraint("packed >= 0 AND delivered >= 0", name="counts"),
    # Scans match lines by the 14-digit GTIN (core.check_digits.normalize_gtin).
    CheckConstraint("gtin IS NULL OR length(gtin) = 14", name="gtin_has_14_digits"),
)
# An order's lines in line order, with what the pack script reads of them: its load walks this
# index alone and never the wide line rows (~0.03 s of 0.3 s at 300,000 lines).
Index(
    "ix_order_lines_order",
    order_lines.c.order_id,
    order_lines.c.id,
    order_lines.c.sku,
    order_lines.c.quantity,
)
# R13: the lines with items packed and not yet delivered — the few of the orders in flight, not
# every packing order's lines — so the ship-out list starts from them (issue 10 item 13). The
# database keeps a partial index right by itself, whatever write changes `packed`.
Index(
    "ix_order_lines_packed",
    order_lines.c.order_id,
    sqlite_where=order_lines.c.packed > 0,
    postgresql_where=order_lines.c.packed > 0,
)
Index("ix_order_lines_sku", order_lines.c.sku)
Index("ix_order_lines_gtin", order_lines.c.gtin)

printed_documents = Table(
    "printed_documents",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("document", String(20), primary_key=True),
    Column("first_at", TS, nullable=False),
    Column("last_at", TS, nullable=False),
    Column("times", Integer, nullable=False, server_default="1"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("reported_at", TS),
    Column("weight_g", Integer),
    Column("station", String(64), nullable=False, server_default=""),
)
Index("ix_deliveries_order", deliveries.c.order_id)
# An order has at most one pending (not yet reported) delivery: the parcel ids kept for its
# next report-in (store/deliveries.py).
Index(
    "ux_deliveries_pending",
    deliveries.c.order_id,
    unique=True,
    sqlite_where=deliveries.c.reported_at.is_(None),
    postgresql_where=deliveries.c.reported_at.is_(None),
)

delivery_lines = Table(
    "delivery_lines",
    metadata,
    Column("delivery_id", BigId, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("line_id", BigId, ForeignKey("order_lines.id"), primary_key=True),
    Column("quantity", Integer, nullable=False),
)

parcel_ids = Table(
    "parcel_ids",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("delivery_id", BigId, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("parcel_id", String(40), nullable=False, unique=True),  # never on two orders
    # Its shipping label is queued (R16: once, at the bench or at report-in): an id added after
    # the bench printed its labels still gets one at report-in, the others not again.
    Column("labelled", Boolean, nullable=False, server_default="0"),
)
Index("ix_parcel_ids_delivery", parcel_ids.c.delivery_id)

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("badge_code", String(64), unique=True),
    Column("pin_hash", String(200)),  # core.operators.hash_pin: salted scrypt, never the PIN
    Column("active", Boolean, nullable=False, server_default="1"),
    # Wrong PINs in a row, and until when PIN sign-in waits after too many (core.operators).
    Column("failed_pins", Integer, nullable=False, server_default="0"),
    Column("pin_locked_until", TS),
)

stations = Table(
    "stations",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("current_order_id", BigId, ForeignKey("orders.id")),
    Column("last_seen_at", TS),
    # Who is signed in at this station: every scan and audit event it writes names them.
    Column("current_operator_id", Integer, ForeignKey("operators.id")),
    # Set while this station runs the pack script, so another one can say where it runs.
    Column("packscript_since", TS),
)

scan_journal = Table(
    "scan_journal",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("at", TS, nullable=False),
    Column("station", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("code", String(200), nullable=False),
    Column("symbology", String(4)),
    Column("kind", String(10), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("message", Text, nullable=False),
    # The message's sentence and facts (core.text.text_data): the kiosk shows the journal in
    # the reader's language, not in the English `message` keeps for logs and the CLI.
    Column("message_data", Text),
    Column("order_id", BigId),
    Column("line_id", BigId),
    Column("delta", Integer, nullable=False, server_default="0"),
    Column("operator_id", Integer, ForeignKey("operators.id")),
    # An undo (UNDO, or a line's − at the bench) names the count it takes back: the journal
    # is the bench's undo stack (stationd.store.bench.undo_candidate).
    Column("undoes_id", BigId),
)
Index("ix_scan_journal_order", scan_journal.c.order_id)
# Which scans of the scan inbox the journal has (services/scan_inbox.py): by station and time.
Index("ix_scan_journal_read", scan_journal.c.station, scan_journal.c.at)

# The bench's record of the delivery being packed for an order (core.bench_outcome.Packing): its
# parcels (R13), whether PARTIAL ended packing (R14: ship-out ships the packed counts as a
# partial delivery) and the parcel labels already printed at the bench (R16: report-in then
# prints none). A row exists while a delivery is being packed; report-in removes it.
bench_packing = Table(
    "bench_packing",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("parcels", Integer, nullable=False, server_default="0"),
    Column("parcel_start", Integer, nullable=False, server_default="0"),
    Column("partial", Boolean, nullable=False, server_default="0"),
    Column("labels", Integer, nullable=False, server_default="0"),
    Column("updated_at", TS),
    CheckConstraint("parcels >= 0 AND parcel_start >= 0 AND labels >= 0", name="counts"),
)

# The audit log; written in the same transaction as the change it records. `sent_at` and the
# idempotency key make it the sync outbox later.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("key", String(36), nullable=False, unique=True),
    Column("at", TS, nullable=False),
    Column("station", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("order_id", BigId),
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("sent_at", TS),
    # The operator signed in at `station` when it happened (who packed, who shipped).
    Column("operator_id", Integer),
    # Sync (docs/sync.md): the epoch of this station's claim on `order_id` when the event was
    # written — central refuses an op whose epoch is stale (R17's fencing token) — and what
    # central answered: `accepted`, or `refused` with a reason a person can read.
    Column("epoch", BigInteger),
    Column("outcome", String(10)),
    Column("outcome_reason", Text),
    # The reason as a sentence (core.text.text_data): said in the packer's language (0009).
    Column("outcome_reason_data", Text),
)
Index("ix_events_order", events.c.order_id)
Index("ix_events_unsent", events.c.sent_at)

print_jobs = Table(
    "print_jobs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("printer", String(64), nullable=False),
    Column("document", String(20), nullable=False),
    Column("order_id", BigId),
    Column("created_at", TS, nullable=False),
    Column("state", String(10), nullable=False, server_default="queued"),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    # `last_error` as a translatable sentence (core.text.text_data), when it is one.
    Column("last_error_data", Text),
    Column("printed_at", TS),
)
Index("ix_print_jobs_queue", print_jobs.c.printer, print_jobs.c.state, print_jobs.c.id)

packscript_runs = Table(
    "packscript_runs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("station", String(64), nullable=False),
    Column("trigger", String(10), nullable=False),  # auto | manual | cli
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("status", String(10), nullable=False),  # running | ok | stopped | failed
    Column("looked_at", Integer, nullable=False, server_default="0"),
    Column("moved", Integer, nullable=False, server_default="0"),
    Column("unpaid", Integer, nullable=False, server_default="0"),
    Column("short", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("stopped_order_id", BigId),
    Column("error", Text),
    Column("trace", LargeBinary),  # zlib-compressed JSON lines, one step a line
)

__all__ = [
    "CHANGE_FEED",
    "ENGINE_SPECIFIC",
    "ORDER_TEXT_INDEX",
    "bench_packing",
    "deliveries",
    "delivery_lines",
    "events",
    "in_metadata",
    "metadata",
    "operators",
    "order_claims",
    "order_lines",
    "orders",
    "outgoing",
    "outgoing_attempts",
    "own_statuses",
    "packscript_runs",
    "parcel_ids",
    "print_jobs",
    "printed_documents",
    "products",
    "scan_journal",
    "stations",
    "stock",
    "sync_ops",
    "sync_state",
    "sync_tasks",
]

# Tables in modules of their own (each under 500 lines): importing this one puts them in metadata.
from stationd.store import carrier_feed_tables as _carrier_feed_tables  # noqa: E402, F401
from stationd.store import invoice_tables as _invoice_tables  # noqa: E402, F401
from stationd.store.outgoing_tables import outgoing, outgoing_attempts  # noqa: E402
from stationd.store.sync_tables import order_claims, sync_ops, sync_state, sync_tasks  # noqa: E402
