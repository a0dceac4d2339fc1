"""`stationd claims list|take-over`: the claims at central (R17, docs/sync.md), for the admin.

A bench that died holding an order keeps it until its lease runs out; `take-over` frees it at
once (or gives it to a named bench) with a new epoch, so the dead bench's late ops are refused.
"""

from __future__ import annotations

import click

from stationd.cli.root import _clear_errors, _Output, _settings, main


def _central(ctx: click.Context):  # type: ignore[no-untyped-def]
    from stationd.store.central_link import CentralLink

    settings = _settings(ctx)
    if not settings.sync.central_url:
        raise click.ClickException("no central database: set [sync] central_url")
    return settings, CentralLink(settings.sync.central_url, timeout_s=settings.sync.timeout_s)


def _run(link, work):  # type: ignore[no-untyped-def]
    from stationd.store.central_link import CentralAway

    try:
        return link.run(work)
    except CentralAway as err:
        raise click.ClickException(f"central did not answer: {err}") from None
    finally:
        link.dispose()


@main.group()
def claims() -> None:
    """Which bench holds which order at central (R17)."""


@claims.command("list")
@click.pass_context
def list_claims(ctx: click.Context) -> None:
    """Every claim at central: order, bench, epoch, lease end (central's clock)."""
    from stationd.store import central_claims

    with _clear_errors():
        link = _central(ctx)[1]
        rows = _run(link, central_claims.every_claim)
        out = _Output()
        for claim, live in rows:
            state = "live" if live else "run out"
            holder = claim.station or "(taken over by the admin)"
            out(
                f"order {claim.order_id}: {holder}, epoch {claim.epoch}, lease until "
                f"{claim.lease_until:%Y-%m-%d %H:%M:%S %Z} ({state})"
            )
        if not rows:
            out("no claims")


@claims.command("take-over")
@click.argument("order_id", type=int)
@click.option("--to", "to_station", default="", metavar="STATION", help="Give it to this bench.")
@click.pass_context
def take_over(ctx: click.Context, order_id: int, to_station: str) -> None:
    """Take ORDER_ID over from the bench that holds it: a new epoch, free for the next bench
    (or held by --to STATION)."""
    from stationd.store import central_claims

    with _clear_errors():
        settings, link = _central(ctx)
        before: dict = {}

        def work(conn):  # type: ignore[no-untyped-def]
            before.update(central_claims.holders(conn, [order_id]))
            return central_claims.take_over(
                conn,
                order_id,
                to_station=to_station,
                lease_s=settings.database.claim_lease_s if to_station else 0,
            )

        claim = _run(link, work)
        if claim is None:
            raise click.ClickException(f"central has no order {order_id}")
        was = before.get(order_id)
        from_ = f" from {was.station} (epoch {was.epoch})" if was and was.station else ""
        to = f"held by {to_station}" if to_station else "free for the next bench"
        _Output()(f"order {order_id} taken over{from_}: epoch {claim.epoch}, {to}")
