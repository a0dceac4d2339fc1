"""`stationd db upgrade`, `install`, `uninstall` and `check`: set the station up, check it."""

from __future__ import annotations

import os
from pathlib import Path

import click

from stationd.cli.root import (
    _clear_errors,
    _settings,
    main,
)
from stationd.config import (
    config_path,
)


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
