"""`stationd …` commands: serve, demo, packscript, orders search, devices, db upgrade, install,
uninstall, check.

Every expected failure — a bad config, a database that is down, a refused rule — ends as one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from stationd.config import (
    MIN_LAN_TOKEN_LEN,
    ConfigError,
    Settings,
    config_path,
    load_settings,
)
from stationd.core.orders import OrderRuleError
from stationd.escpos_capabilities import import_escpos_with_cache
from stationd.exit_status import CONFIG
from stationd.memory import limit_malloc_arenas
from stationd.store.database import StoreError


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    path = config_path(ctx.obj.get("config"), os.environ)
    clean = {k: v for k, v in overrides.items() if v is not None}
    return load_settings(path, overrides=clean)


@contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as err:
        # Permanent until a person edits the file: its own status, which the unit won't restart.
        failed = click.ClickException(str(err))
        failed.exit_code = CONFIG
        raise failed from None
    except (StoreError, OrderRuleError) as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:  # a folder that can't be written, a device that went away
        where = f" ({err.filename})" if err.filename else ""
        raise click.ClickException(f"{err.strerror or err}{where}") from None
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise click.ClickException(f"the database could not be used: {reason}") from None


class _Output:
    """Lines for stdout that stop, quietly, once its reader has gone (`… | head`).

    What the command does goes on: a pack-script run whose trace is no longer read still
    decides every order and is recorded whole.
    """

    def __init__(self) -> None:
        self.gone = False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            click.echo(line)  # writes and flushes
        except BrokenPipeError:
            self.gone = True
            # Python flushes stdout again at exit, which would complain once more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def _logging(settings: Settings, verbose: bool) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings.logging.level)
    _log_to_stderr(level, wire=settings.logging.wire)
    from stationd.journal import JournalHandler, stderr_is_journal

    if stderr_is_journal():
        # Under systemd: records with their fields (station, device, order), not plain lines;
        # the journal keeps the time and level itself.
        handler = JournalHandler(settings.station.name)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        for old in logging.root.handlers:
            for kept in old.filters:
                handler.addFilter(kept)
        logging.root.handlers = [handler]


def _log_to_stderr(level: int, *, wire: bool = False) -> None:
    # force: python-escpos calls basicConfig() when it is imported, which would win otherwise.
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if level > logging.DEBUG:
        # Alembic says "setup plugin …" and each migration at INFO on every start.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if not wire:
        # Raw device bytes (scanned codes among them) stay out of the log unless asked for;
        # a filter on the handlers also covers device modules imported later.
        for handler in logging.root.handlers:
            handler.addFilter(lambda record: not record.name.endswith(".wire"))


#: Bits no file or folder the station makes may grant to group or others.
PRIVATE_UMASK = 0o077


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    # Read (and its failures said) by the config loader: a file that can't be read is a config
    # error, exit 78, which the unit doesn't restart; click's own check would exit 2.
    type=click.Path(dir_okay=False, readable=False),
    help="The TOML config file (default: $STATIOND_CONFIG, else /etc/stationd/stationd.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG.")
@click.version_option(package_name="stationd")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """stationd — the software of a web-shop packing station."""
    # Customer data (the database, printed jobs, the scan inbox) is private whatever umask
    # the shell had (issue 10: 0644 files and a 0755 state folder under umask 022). Not for
    # install: the venv and units it writes are read by the service's user and by systemd.
    if ctx.invoked_subcommand not in ("install", "uninstall"):
        os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)
    import_escpos_with_cache()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["verbose"] = verbose
    if ctx.invoked_subcommand not in ("serve", "demo"):
        # A one-shot command says what went wrong in its one `Error:` line; what the code
        # logs on the way (a traceback, say) shows with -v only. Without a handler, Python
        # would print it anyway.
        if verbose:
            _log_to_stderr(logging.DEBUG)
        else:
            logging.basicConfig(
                level=logging.CRITICAL, handlers=[logging.NullHandler()], force=True
            )


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
        threading.Thread(
            target=lambda: (stop_asked.wait(), station.stop()), name="stop", daemon=True
        ).start()
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


@main.command()
@click.option("--trace", is_flag=True, help="Print every step as it happens (R8).")
@click.pass_context
def packscript(ctx: click.Context, trace: bool) -> None:
    """Run the pack script once: move paid, fully stocked orders to packing."""
    from stationd.core.packscript import describe
    from stationd.services.packscript_run import PackScriptRunFailed, run_once
    from stationd.store.database import Store

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


@main.command()
@click.pass_context
def devices(ctx: click.Context) -> None:
    """List the scanners, printers and scales attached, and what the config would use."""
    from stationd.devices.ports import list_serial_ports
    from stationd.devices.usb_find import list_input_devices, list_usb_devices

    with _clear_errors():
        settings = _settings(ctx)

    def section(title: str, rows: list[str]) -> None:
        click.echo(title)
        for row in rows or ["  (none)"]:
            click.echo(row)

    section(
        "Serial ports:",
        [
            f"  {p['device']:<24} {p['description'] or ''}  [{p['spec']}]"
            for p in _safely(list_serial_ports)
        ],
    )
    section(
        "Input devices (keyboard-mode scanners and keyboards):",
        [
            f"  {d['path']:<24} {d['name']}  [{d['spec']}]"
            + (f"  — looks like a scanner: {d['scanner_hint']}" if d["scanner_hint"] else "")
            for d in _safely(list_input_devices)
        ],
    )
    section(
        "USB HID devices (HID POS scanners, scales):",
        [
            f"  {d['usb_vid']:04x}:{d['usb_pid']:04x} {d.get('manufacturer') or ''} "
            f"{d.get('product') or ''}".rstrip()
            for d in _safely(list_usb_devices)
        ],
    )
    configured = [
        f"  scanner {s.name} ({s.kind}): "
        + (s.port or (f"usb {s.usb_vid:04x}:{s.usb_pid:04x}" if s.usb_vid is not None else "-"))
        for s in settings.scanners
    ] + [
        f"  printer {p.name} ({p.kind}"
        + (f", {p.transport}" if p.kind != "simulated" else "")
        + ")"
        for p in settings.printers
    ]
    if settings.scale.kind != "none":
        configured.append(f"  scale ({settings.scale.kind})")
    section("Configured:", configured)


def _safely(lister: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A device listing, or none when this machine can't list that kind (no libusb, no evdev)."""
    try:
        return lister()
    except Exception as err:  # a missing backend must not hide the other listings
        click.echo(f"  ({lister.__name__}: {err})", err=True)
        return []


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Bring the database schema to the newest version (serve does this on start)."""
    from stationd.store.database import Store

    with _clear_errors():
        settings = _settings(ctx)
        store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        before = store.revision()
        store.upgrade()
        click.echo(f"database at revision {store.revision()} (was {before or 'empty'})")


_ROOT_OPTION = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default="/",
    show_default=True,
    help="The system's root folder: another one for a Debian root being prepared (chroot).",
)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what install would do; change nothing.")
@_ROOT_OPTION
def install(dry_run: bool, root: Path) -> None:
    """Install the station on this Debian system: user, venv, config, units, udev rules."""
    from stationd.install import InstallError, Layout, carry_out, install_plan, left_to_do

    layout = Layout(root)
    try:
        if not dry_run:
            from stationd.install import require_root

            require_root(layout)
        click.echo("stationd install" + (" (dry run: nothing is changed)" if dry_run else ""))
        needed = carry_out(install_plan(layout), dry_run=dry_run, say=click.echo)
    except InstallError as err:
        raise click.ClickException(str(err)) from None
    if not dry_run:
        click.echo("Installed." if needed else "Nothing to do: already installed.")
        click.echo("Left to do:")
        for line in left_to_do(layout):
            click.echo(f"  - {line}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what uninstall would do; change nothing.")
@_ROOT_OPTION
def uninstall(dry_run: bool, root: Path) -> None:
    """Take the station off this system; its data, config and users stay."""
    from stationd.install import (
        InstallError,
        Layout,
        carry_out,
        kept_by_uninstall,
        require_root,
        uninstall_plan,
    )

    layout = Layout(root)
    try:
        if not dry_run:
            require_root(layout)
        click.echo("stationd uninstall" + (" (dry run: nothing is changed)" if dry_run else ""))
        carry_out(uninstall_plan(layout), dry_run=dry_run, say=click.echo)
    except InstallError as err:
        raise click.ClickException(str(err)) from None
    click.echo("Kept:")
    for line in kept_by_uninstall(layout):
        click.echo(f"  - {line}")


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Check what the station needs: config, database, devices, disk, clock (ok / warn / fail)."""
    from stationd.check import Level, run_checks, table

    findings = run_checks(config_path(ctx.obj.get("config"), os.environ))
    click.echo(table(findings))
    failed = [f for f in findings if f.level is Level.FAIL]
    if failed:
        raise click.ClickException(f"{len(failed)} check(s) failed")
