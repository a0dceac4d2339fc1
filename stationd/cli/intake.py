"""`stationd import orders|products|stock FILE`: the shop's files in (issue 13 §1; README).

The file's records go through the same checks and writes as the intake API
(`services/intake.py`); a summary ends on stdout, a progress bar shows on stderr when it is a
terminal. With `[sync] central_url` the import writes central, which every bench pulls from.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from stationd.cli.root import _clear_errors, _Output, _settings, main


@main.group("import")
def import_group() -> None:
    """Take in the shop's orders, products or stock from a JSON Lines or CSV file."""


def _lines(raw: IO[bytes], bar: Any) -> Iterator[str]:
    """The file's lines as text, moving the progress bar by the bytes read."""
    for number, line in enumerate(raw, 1):
        if bar is not None:
            bar.update(len(line))
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise click.ClickException(
                f"line {number}: not UTF-8 ({err.reason} at byte {err.start})"
            ) from None


def _run(ctx: click.Context, kind: str, path: str, fmt: str | None, shop: str | None) -> None:
    from stationd.core.intake_formats import FileFormatError, format_of, read_records
    from stationd.services.intake import import_orders, import_products, import_stock
    from stationd.store.database import Store

    with _clear_errors():
        settings = _settings(ctx)
        try:
            fmt = fmt or format_of(path)
        except FileFormatError as err:
            raise click.ClickException(str(err)) from None
        shops = [s.name for s in settings.intake]
        if shop is None:  # no [[intake]]: the one shop is called "shop"
            shop = shops[0] if len(shops) == 1 else None if shops else "shop"
        if kind == "orders" and shop is None:
            raise click.ClickException(
                "say which shop the orders are from: --shop NAME"
                + (f" (one of {', '.join(shops)})" if shops else "")
            )
        if kind == "orders" and shops and shop not in shops:
            raise click.ClickException(f"no [[intake]] shop is named {shop!r}: {', '.join(shops)}")
        # With sync the shop's orders are central's: the benches pull them from there.
        url = settings.sync.central_url or settings.database_url()
        store = Store(url, busy_timeout_s=settings.database.busy_timeout_s)
        store.upgrade()
        out = _Output()
        with open(path, "rb") as raw:
            size = raw.seek(0, 2)
            raw.seek(0)
            bar_cm: Any = (
                click.progressbar(length=size, label=f"{kind}", file=sys.stderr)
                if sys.stderr.isatty()
                else None
            )
            bar = bar_cm.__enter__() if bar_cm is not None else None
            try:
                records = read_records(kind, fmt, _lines(raw, bar))
                if kind == "orders":
                    assert shop is not None
                    summary = import_orders(store, shop, records)
                elif kind == "products":
                    summary = import_products(store, records)
                else:
                    summary = import_stock(store, records)
            except FileFormatError as err:
                raise click.ClickException(f"{path}: {err}") from None
            finally:
                if bar_cm is not None:
                    bar_cm.__exit__(None, None, None)
        for line in summary.lines():
            out(line)
        store.dispose()
        if summary.refused:
            sys.exit(1)


_FILE = click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    help="The file's format (default: from its name, .jsonl or .csv).",
)


@import_group.command("orders")
@_FILE
@_FORMAT
@click.option(
    "--shop",
    help="The shop the orders are from (default: the one [[intake]] shop, else 'shop').",
)
@click.pass_context
def import_orders_command(ctx: click.Context, path: str, fmt: str | None, shop: str | None) -> None:
    """Orders: new ones added, changed ones updated while R2 allows, the same ones left."""
    _run(ctx, "orders", path, fmt, shop)


@import_group.command("products")
@_FILE
@_FORMAT
@click.pass_context
def import_products_command(ctx: click.Context, path: str, fmt: str | None) -> None:
    """Products: SKU, name, EAN, shelf location, weight and price."""
    _run(ctx, "products", path, fmt, None)


@import_group.command("stock")
@_FILE
@_FORMAT
@click.pass_context
def import_stock_command(ctx: click.Context, path: str, fmt: str | None) -> None:
    """Stock: each product's count on hand."""
    _run(ctx, "stock", path, fmt, None)
