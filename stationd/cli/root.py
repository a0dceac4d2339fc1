"""The `stationd` command group (`--config`, `-v`) and what every command shares.

Reading the settings, turning an expected failure (a bad config, a database that is down, a
refused rule) into one line on stderr and a non-zero exit, stdout that stops quietly when its
reader has gone, and the logging the station runs with.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from stationd.config import (
    ConfigError,
    Settings,
    config_path,
    load_settings,
)
from stationd.core.orders import OrderRuleError
from stationd.escpos_capabilities import import_escpos_with_cache
from stationd.exit_status import CONFIG
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
        # httpx names every request's whole URL at INFO: a carrier's signed document link
        # would reach the log with its signature (carriers/http_session.py logs the path).
        logging.getLogger("httpx").setLevel(logging.WARNING)
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
