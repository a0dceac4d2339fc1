"""`stationd export sie`: the bookkeeping's files, from the command line (R16)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from stationd.cli.root import _clear_errors, _settings, main

#: How many references of the records left out (another currency) the summary names.
SHOWN_LEFT_OUT = 5


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from None


@main.group()
def export() -> None:
    """Write the shop's records out for other programs."""


@export.command("sie")
@click.option("--from", "first", required=True, metavar="DATE", help="First day (YYYY-MM-DD).")
@click.option("--to", "last", required=True, metavar="DATE", help="Last day (YYYY-MM-DD).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@click.option("--currency", help="The books' currency (default: SEK, NOK for a Norwegian shop).")
@click.pass_context
def export_sie_command(
    ctx: click.Context, first: str, last: str, out: Path | None, currency: str | None
) -> None:
    """The invoice records issued in a date range as an SIE 4I file (CP437, for a Swedish
    accounting program's voucher import)."""
    from stationd.clock import utcnow
    from stationd.core.money import books_currency
    from stationd.services.sie_export import export_sie
    from stationd.store.database import Store

    with _clear_errors():
        settings = _settings(ctx)
        start, end = _day(first, "--from"), _day(last, "--to")
        shop = settings.shop
        books = (currency or books_currency(shop.country)).upper()
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        store.upgrade()
        try:
            made = export_sie(
                store,
                start,
                end,
                company_name=shop.name,
                currency=books,
                org_number=shop.org_number,
                today=utcnow().astimezone().date(),
            )
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        if out is None:
            sys.stdout.buffer.write(made.data)
            sys.stdout.buffer.flush()
        else:
            # Written beside and renamed: a half-written file never stands under the name.
            partial = out.with_name(out.name + ".partial")
            partial.write_bytes(made.data)
            partial.replace(out)
        where = str(out) if out is not None else "stdout"
        click.echo(
            f"{made.vouchers} voucher(s) from {start} to {end} written to {where}.", err=True
        )
        # One line per other currency, not one per record: a shop selling in two currencies
        # leaves out hundreds in a month.
        by_currency: dict[str, list[str]] = {}
        for reference, other in made.left_out:
            by_currency.setdefault(other, []).append(reference)
        for other, references in by_currency.items():
            named = ", ".join(references[:SHOWN_LEFT_OUT])
            if len(references) > SHOWN_LEFT_OUT:
                named += f" and {len(references) - SHOWN_LEFT_OUT} more"
            click.echo(
                f"left out: {len(references)} record(s) in {other}, not {books}: "
                f"{named} (export them with --currency {other})",
                err=True,
            )
