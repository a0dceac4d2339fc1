"""`stationd serve` and `stationd demo`: run the station, on its config or on a demo shop."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from stationd.cli.root import (
    _clear_errors,
    _logging,
    _settings,
    main,
)
from stationd.config import (
    MIN_LAN_TOKEN_LEN,
    ConfigError,
    Settings,
    config_path,
)
from stationd.memory import limit_malloc_arenas


class _Folder(click.Path):
    """A folder path that is not empty: click turns "" into the current folder, and the demo's
    shop would land wherever the shell stands (issue 10)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name a folder", param, ctx)
        return super().convert(value, param, ctx)


def _run_station(
    settings: Settings,
    verbose: bool,
    after_start: Callable[[Any], None],
    config_file: Path | None = None,
) -> None:
    from stationd.station import Station

    # Before the station's threads start: each would otherwise get an arena of its own.
    limit_malloc_arenas()
    _logging(settings, verbose)
    station = Station(settings)
    station.config_file = config_file
    stop_asked = threading.Event()
    # A handler only asks; the stopping happens here, once, outside the signal context.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_asked.set())
    # Listening before the start: a station waiting for its database stops when asked.
    threading.Thread(
        target=lambda: (stop_asked.wait(), station.stop()), name="stop", daemon=True
    ).start()
    try:
        station.start()
    except OSError as err:
        station.stop()  # the devices it started let go again
        if err.errno == errno.EADDRINUSE:
            where = f"{settings.kiosk.host}:{settings.kiosk.port}"
            raise click.ClickException(
                f"{where} is in use: is another stationd serving there? (--port changes it)"
            ) from None
        raise
    after_start(station)
    try:
        station.wait()
    finally:
        station.stop()


@main.command()
@click.option("--host", help="Listen on this address (default from config: 127.0.0.1).")
@click.option("--port", type=int, help="Listen on this port (default from config: 8080).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the station: upgrade the database, start devices, schedule and kiosk."""
    with _clear_errors():
        settings = _settings(ctx, **{"kiosk.host": host, "kiosk.port": port})
        click.echo(f"stationd: {settings.config_notice()}")
        _run_station(
            settings,
            ctx.obj["verbose"],
            lambda station: click.echo(f"stationd serving the kiosk at {station.url}"),
            config_path(ctx.obj.get("config"), os.environ),
        )


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stationd" / "demo"


@main.command()
@click.option(
    "--state-dir",
    type=_Folder(file_okay=False, path_type=Path),
    help=f"Where the demo keeps its database (default: {default_demo_dir()}).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen on this address.")
@click.option("--port", default=8080, show_default=True, type=int, help="Listen on this port.")
@click.option(
    "--token",
    default="",
    help="The kiosk's access token, needed when --host is reachable from the network "
    f"(at least {MIN_LAN_TOKEN_LEN} characters; open the kiosk once with ?token=…).",
)
@click.option("--fresh", is_flag=True, help="Throw away an earlier demo shop and make a new one.")
@click.option("--no-serve", is_flag=True, help="Make the demo shop, then exit.")
@click.option(
    "--scanner-port",
    metavar="PATH",
    help="Also read a serial scanner (RS-232 / USB CDC, CR or LF after each code) on this port, "
    "e.g. /dev/ttyACM0 or a udev symlink; the FIFO keeps working.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    state_dir: Path | None,
    host: str,
    port: int,
    token: str,
    fresh: bool,
    no_serve: bool,
    scanner_port: str | None,
) -> None:
    """Make a believable shop and serve it with simulated devices.

    300+ products and 500+ orders in all four states, Swedish and Norwegian customers; scans
    can be typed on the bench page, written to the scan FIFO in the state directory, or read
    from a serial scanner on --scanner-port.
    """
    import tomli_w

    from stationd.config import settings_from_dict
    from stationd.demo import create_demo, weigh_packed_parcels
    from stationd.store.database import Store

    if ctx.obj.get("config"):
        raise click.ClickException(
            "stationd demo makes its own config (stationd.toml in its state directory): "
            "--config is for serve and the other commands"
        )
    state = (state_dir or default_demo_dir()).expanduser().resolve()
    with _clear_errors():
        config = {
            "station": {
                "name": "demo-bench",
                "state_dir": str(state),
            },
            "kiosk": {"host": host, "port": port, "token": token},
            "packscript": {"interval_min": 15},
            "scanners": [
                {"name": "sim", "kind": "simulated", "fifo_path": str(state / "scan.fifo")},
                *(
                    [{"name": "serial", "kind": "serial", "port": scanner_port}]
                    if scanner_port
                    else []
                ),
            ],
            # The simulated printers keep every job in <state>/printed/<printer>/.
            "printers": [
                {"name": "receipts", "kind": "simulated"},
                {"name": "labels", "kind": "simulated"},
            ],
            "print": {
                "picklist": "receipts",
                "receipt": "receipts",
                "picklist_receipt": "receipts",
                "invoice": "receipts",
                "label": "labels",
            },
            "scale": {"kind": "simulated"},
            "shipping": {"carrier": "simulated"},
        }
        try:
            settings = settings_from_dict(config, source="stationd demo")
        except ConfigError as err:
            if err.key == "kiosk.token":
                raise click.ClickException(f"{err} (give it with --token)") from None
            raise
        # The same settings as a file, so that the other commands reach the demo's shop:
        # stationd --config <state>/stationd.toml packscript --trace
        state.mkdir(parents=True, exist_ok=True)
        config_file = state / "stationd.toml"
        text = (
            "# Written by `stationd demo` each time it starts (edits are overwritten): the demo's\n"
            "# settings, for the other commands, e.g. stationd --config "
            f"{config_file} packscript --trace\n\n" + tomli_w.dumps(config)
        )
        # Made readable by its owner only from the start: it may hold the kiosk's token.
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        config_file.chmod(0o600)  # a file from before keeps its mode through O_TRUNC
        db_file = state / "stationd.sqlite"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        store = Store(settings.database_url())
        store.upgrade()
        from sqlalchemy import func, select

        from stationd.store.tables import orders

        with store.read() as conn:
            existing = conn.execute(select(func.count()).select_from(orders)).scalar_one()
        if existing:
            click.echo(
                f"Using the demo shop in {state} ({existing} orders; --fresh for a new one)."
            )
        else:
            click.echo(f"Making a demo shop in {state} …")
            summary = create_demo(store, station=settings.station.name)
            counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.orders.items()))
            click.echo(f"{summary.products} products; orders: {counts}.")
        from stationd.store.orders import outbound_queue

        with store.read() as conn:
            oldest = outbound_queue(conn, limit=1)
        store.dispose()
        if no_serve:
            return
        example = f"ORD-{oldest[0].id}" if oldest else "ORD-1000"

        def hello(station: Any) -> None:
            weigh_packed_parcels(station)
            click.echo(f"Kiosk: {station.url}/queue   (Ctrl-C stops)")
            click.echo(f"Scan from a shell: echo {example} > {state / 'scan.fifo'}")
            click.echo(f"Other commands: stationd --config {config_file} packscript --trace")

        _run_station(settings, ctx.obj["verbose"], hello)
