"""`stationd sync status` and `stationd sync now`: the push to central and the pull from it."""

from __future__ import annotations

from datetime import datetime

import click

from stationd.cli.root import _clear_errors, _Output, _settings, main


@main.group()
def sync() -> None:
    """The sync with the central database ([sync] central_url)."""


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "none"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@sync.command("status")
@click.pass_context
def sync_status(ctx: click.Context) -> None:
    """What waits to be pushed, how long, the last error, and the claims this bench holds."""
    from stationd.clock import utcnow
    from stationd.store.database import Store
    from stationd.store.reads.sync import sync_status as read_status

    with _clear_errors():
        settings = _settings(ctx)
        if not settings.sync.central_url:
            # A single bench sends nothing: its audit log is no backlog (seen on the demo).
            _Output()("central: none (a single bench): nothing is sent, nothing waits")
            return
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        store.upgrade()
        status = read_status(store, settings.station.name)
        store.dispose()
        now = utcnow()
        out = _Output()
        out("central: set")
        out(f"backlog: {status.waiting} change(s) waiting")
        # The age of the oldest op waiting, by this bench's clock: shown, never decided on.
        out(f"lag: {_age(status.oldest_at, now) if status.waiting else '0 s'}")
        out(f"refused by central: {status.refused}")
        if status.last_push_at:
            out(f"last push: {_age(status.last_push_at, now)} ago")
        else:
            out("last push: never")
        if status.last_error and status.last_error_at:
            out(f"last error: {status.last_error} ({status.last_error_at.isoformat()})")
        else:
            out("last error: none")
        if status.last_pull_at:
            out(f"last pull: {_age(status.last_pull_at, now)} ago")
        else:
            out("last pull: never")
        if status.last_pull_error:
            out(f"last pull error: {status.last_pull_error}")
        if status.skipped:
            out(f"orders waiting for their own changes before a pull: {status.skipped}")
        held = ", ".join(f"{order} (epoch {epoch})" for order, epoch in status.claims)
        out(f"claims held: {len(status.claims)}{': ' + held if held else ''}")


@sync.command("now")
@click.pass_context
def sync_now(ctx: click.Context) -> None:
    """Push every waiting change to central now, then pull central's changes; say what each
    did."""
    from stationd.store.database import Store
    from stationd.store.unavailable import database_unavailable, first_line
    from stationd.sync.pull import pull_now
    from stationd.sync.push import Pusher

    with _clear_errors():
        settings = _settings(ctx)
        if not settings.sync.central_url:
            raise click.ClickException("no central database: [sync] central_url is empty")
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        store.upgrade()
        pusher = Pusher(store, settings.sync.central_url, timeout_s=settings.sync.timeout_s)
        try:
            done = pusher.push_all()
            pulled = pull_now(store, settings.sync.central_url, timeout_s=settings.sync.timeout_s)
        except Exception as err:
            if not database_unavailable(err):
                raise
            pusher.note_error(err)
            raise click.ClickException(
                f"central can't be reached: {first_line(err)} (the changes keep waiting)"
            ) from None
        finally:
            pusher.dispose()
            store.dispose()
        _Output()(
            f"pushed {done.sent} change(s): {done.sent - done.refused} accepted, "
            f"{done.refused} refused ({done.duplicates} answered before)"
        )
        _Output()(
            f"pulled {pulled.written} change(s) from central"
            + (f" (a full resync: {pulled.why})" if pulled.full else "")
        )
