"""`stationd packscript` and `stationd orders search`: the orders, from the command line."""

from __future__ import annotations

import sys
from typing import Any

import click

from stationd.cli.root import (
    _clear_errors,
    _Output,
    _settings,
    main,
)


@main.command()
@click.option("--trace", is_flag=True, help="Print every step as it happens (R8).")
@click.pass_context
def packscript(ctx: click.Context, trace: bool) -> None:
    """Run the pack script once: move paid, fully stocked orders to packing."""
    from stationd.core.packscript import describe
    from stationd.services.packscript_run import PackScriptRunFailed, run_once
    from stationd.store.database import Store
    from stationd.store.packscript_runlock import RunLockTaken

    with _clear_errors():
        settings = _settings(ctx)
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        store.upgrade()
        out = _Output()
        on_step = (lambda step: out(describe(step))) if trace else None
        try:
            run_id, result = run_once(
                store,
                station=settings.station.name,
                trigger="cli",
                on_step=on_step,
                keep_traces_days=settings.packscript.keep_traces_days,
            )
        except PackScriptRunFailed as err:
            raise click.ClickException(f"pack script run {err.run_id} failed: {err}") from None
        except RunLockTaken as err:
            raise click.ClickException(str(err)) from None
        out(f"run {run_id}: {result.summary()}")
        if not result.ok:
            sys.exit(1)


@main.group()
def orders() -> None:
    """Look orders up."""


@orders.command("search")
@click.argument("text", required=False, default="")
@click.option("--from", "placed_from", metavar="DATE", help="Placed on or after (YYYY-MM-DD).")
@click.option("--to", "placed_to", metavar="DATE", help="Placed on or before (YYYY-MM-DD).")
@click.option("--status", help="preorder, order, packing or shipped.")
@click.option("--own-status", "own_status_id", metavar="ID", help="Own status number.")
@click.option("--payment", "payment_method", help="Payment method, e.g. own_invoice.")
@click.option("--min-value", "value_min_minor", metavar="AMOUNT", help="Lowest value, e.g. 199.")
@click.option("--max-value", "value_max_minor", metavar="AMOUNT", help="Highest value.")
@click.option("--has-comment/--no-comment", default=None, help="Only orders with / without one.")
@click.option("--waiting/--not-waiting", default=None, help="Only waiting / not waiting orders.")
@click.option("--sku", "sku_or_ean", metavar="SKU|EAN", help="Orders holding this item.")
@click.option("--tracking", "tracking_id", metavar="ID", help="Orders with this parcel id.")
@click.option("--page", default="1", show_default=True)
@click.option("--limit", "page_size", default="50", show_default=True)
@click.pass_context
def orders_search(ctx: click.Context, **criteria: Any) -> None:
    """Search orders (R4); any option makes it an extended search."""
    from stationd.core.money import format_money
    from stationd.core.search import QueryError, parse_query
    from stationd.store.database import Store
    from stationd.store.search import search_orders

    with _clear_errors():
        for flag in ("has_comment", "waiting"):
            if criteria[flag] is not None:
                criteria[flag] = "yes" if criteria[flag] else "no"
        try:
            query = parse_query(criteria)
        except QueryError as err:
            # Name the option the user typed, not the field behind it.
            options = {p.name: p.opts[-1] for p in ctx.command.params if p.opts}
            options["text"] = "TEXT"
            said = "; ".join(f"{options.get(k, k)}: {v}" for k, v in err.problems.items())
            raise click.ClickException(said) from None
        settings = _settings(ctx)
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        if store.revision() is None:
            raise click.ClickException(
                "the database has no orders yet, not even their tables: is the config the "
                "station's? (stationd db upgrade makes the tables)"
            )
        with store.read() as conn:
            found = search_orders(conn, query, settings.station.tz)
        if found.total is None or found.more:
            total = f"more than {found.total or len(found.rows)}"
        else:
            total = str(found.total)
        out = _Output()
        out(f"{total} order(s){' (extended search)' if query.extended else ''}")
        for r in found.rows:
            status = r.status + (f" / {r.own_status}" if r.own_status else "")
            status += " (waiting)" if r.waiting else ""
            out(
                f"{r.id:>8}  {r.placed_at.astimezone(settings.station.tz):%Y-%m-%d %H:%M}  "
                f"{r.customer_name[:28]:<28}  {status:<22} "
                f"{format_money(r.value_minor, r.currency):>14}  {r.comment[:40]}"
            )
