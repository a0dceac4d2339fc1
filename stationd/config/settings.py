"""The :class:`Settings` tree, and reading it from a TOML file, a dict and overrides.

Which file is read (``--config``, ``$STATIOND_CONFIG``, the default path), renamed keys, and the
generic reader that walks the sections' declarations: :func:`load_settings`,
:func:`settings_from_dict`.
"""

# The key helpers (_int, _path, _section …) return dataclasses.field(...), which RUF009 can't see.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stationd.config.accounting import AccountingSettings
from stationd.config.fields import (
    _KEY,
    _SECTION,
    ConfigError,
    _describe,
    _did_you_mean,
    _Invalid,
    _Key,
)
from stationd.config.outgoing import MailSettings, OutgoingSettings, WebhookSettings
from stationd.config.sections import (
    BenchSettings,
    DatabaseSettings,
    DiscoverySettings,
    IntakeSettings,
    KioskSettings,
    LoggingSettings,
    PackScriptSettings,
    PrinterSettings,
    PrintSettings,
    ScaleSettings,
    ScannerSettings,
    ShippingSettings,
    ShopSettings,
    StationSettings,
    SyncSettings,
)
from stationd.core.text import Text, sentence

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/stationd/stationd.toml")
"""Read when neither ``--config`` nor ``$STATIOND_CONFIG`` names a file, if it exists."""

CONFIG_ENV_VAR = "STATIOND_CONFIG"
#: The source of settings read from no file: the built-in defaults.
DEFAULTS_SOURCE = "<defaults>"
"""Environment variable naming the config file (``--config`` beats it)."""


@dataclass(frozen=True, slots=True)
class _Section:
    cls: type
    array: bool = False
    unique: str | None = None  # for arrays: a key whose value must differ between entries


def _section(cls: type) -> Any:
    return dataclasses.field(default_factory=cls, metadata={_SECTION: _Section(cls)})


def _array(cls: type, *, unique: str | None = None) -> Any:
    return dataclasses.field(
        default=(), metadata={_SECTION: _Section(cls, array=True, unique=unique)}
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the station is configured with. Frozen; build it with :func:`load_settings`.

    ``Settings()`` is the built-in defaults (SQLite in ``/var/lib/stationd``, kiosk on loopback).
    Tests may construct sections directly; only the loader validates.
    """

    station: StationSettings = _section(StationSettings)
    database: DatabaseSettings = _section(DatabaseSettings)
    kiosk: KioskSettings = _section(KioskSettings)
    packscript: PackScriptSettings = _section(PackScriptSettings)
    scanners: tuple[ScannerSettings, ...] = _array(ScannerSettings, unique="name")
    logging: LoggingSettings = _section(LoggingSettings)
    shop: ShopSettings = _section(ShopSettings)
    printers: tuple[PrinterSettings, ...] = _array(PrinterSettings, unique="name")
    print: PrintSettings = _section(PrintSettings)
    scale: ScaleSettings = _section(ScaleSettings)
    bench: BenchSettings = _section(BenchSettings)
    shipping: ShippingSettings = _section(ShippingSettings)
    mail: MailSettings = _section(MailSettings)
    webhooks: WebhookSettings = _section(WebhookSettings)
    outgoing: OutgoingSettings = _section(OutgoingSettings)
    discovery: DiscoverySettings = _section(DiscoverySettings)
    sync: SyncSettings = _section(SyncSettings)
    accounting: AccountingSettings = _section(AccountingSettings)
    intake: tuple[IntakeSettings, ...] = _array(IntakeSettings, unique="name")
    #: Where these settings came from: the config file's path, DEFAULTS_SOURCE when no file
    #: was read (issue 12: `serve` says which, in the log and on the Devices page).
    source: str = dataclasses.field(default="<defaults>", compare=False)

    def config_notice(self) -> Text:
        """Which configuration the station runs on, as a sentence for the log and the kiosk."""
        if self.source == DEFAULTS_SOURCE:
            return sentence(
                "No config file was found (none named by --config or {env}, and {path} does "
                "not exist): the built-in defaults apply, with the database {database}.",
                env=CONFIG_ENV_VAR,
                path=str(DEFAULT_CONFIG_PATH),
                database=self.database_url(),
            )
        return sentence("Configuration read from {path}.", path=self.source)

    def database_url(self) -> str:
        """``database.url``, or ``sqlite:///<state_dir>/stationd.sqlite`` when it is empty."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.station.state_dir / 'stationd.sqlite'}"


# --------------------------------------------------------------------------- reading

OVERRIDES_SOURCE = "<overrides>"


@dataclass(frozen=True, slots=True)
class _Context:
    source: str
    overridden: frozenset[str] = frozenset()

    def error(self, key: str | None, message: str) -> ConfigError:
        source = OVERRIDES_SOURCE if key in self.overridden else self.source
        return ConfigError(f"{source}: {message}", source=source, key=key)


#: Keys that were renamed: (section, old key) → new key. The old one is still read, with a
#: log line asking for the new one, so a station's config keeps working after an upgrade.
RENAMED_KEYS: Mapping[tuple[str, str], str] = {("shipping", "broker"): "carrier"}


def _renamed(table: Mapping[str, Any], at: str, ctx: _Context) -> Mapping[str, Any]:
    """``table`` with its renamed keys under their new names (both given: an error)."""
    olds = [(old, new) for (section, old), new in RENAMED_KEYS.items() if section == at]
    if not any(old in table for old, _new in olds):
        return table
    renamed = dict(table)
    for old, new in olds:
        if old not in renamed:
            continue
        if new in renamed:
            raise ctx.error(
                f"{at}.{old}", f"{at}.{old} is the old name of {at}.{new}: give only {new}"
            )
        log.warning(
            "%s: %s.%s is deprecated; call it %s.%s (it is read as that)",
            ctx.source, at, old, at, new,
        )  # fmt: skip
        renamed[new] = renamed.pop(old)
    return renamed


def _build_section(cls: type, table: Any, at: str, noun: str, ctx: _Context) -> Any:
    """Read one table into ``cls`` using the key declarations on its fields."""
    if not isinstance(table, Mapping):
        raise ctx.error(at, f"{at} must be a table, got {_describe(table)}")
    table = _renamed(table, at, ctx)
    keys: dict[str, _Key] = {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls)}
    for name in table:
        if name not in keys:
            where = f"{at}.{name}"
            raise ctx.error(where, f"unknown key {where}; {_did_you_mean(str(name), keys)}")
    try:
        kind = keys["kind"].read(table["kind"], f"{at}.kind") if "kind" in table else None
        values: dict[str, Any] = {}
        for name, key in keys.items():
            where = f"{at}.{name}"
            if name not in table:
                if key.required:
                    raise _Invalid(where, f"{where} is required")
                continue
            if key.only_for and kind not in key.only_for:
                raise _Invalid(
                    where,
                    f"{where}: key '{name}' applies to {' and '.join(key.only_for)} {noun} only "
                    f"(this one is {kind})",
                )
            values[name] = key.read(table[name], where)
        built = cls(**values)
        check = getattr(built, "_check", None)
        if check is not None:
            check(at)
    except _Invalid as err:
        raise ctx.error(err.key, err.message) from None
    return built


def _build_settings(data: Any, ctx: _Context) -> Settings:
    if not isinstance(data, Mapping):
        raise ctx.error(None, f"the configuration must be a table, got {_describe(data)}")
    fields = {f.name: f.metadata[_SECTION] for f in dataclasses.fields(Settings) if f.metadata}
    for name in data:
        if name not in fields:
            raise ctx.error(
                str(name), f"unknown section [{name}]; {_did_you_mean(str(name), fields)}"
            )
    values: dict[str, Any] = {}
    for name, section in fields.items():
        if name not in data:
            continue
        raw = data[name]
        if not section.array:
            values[name] = _build_section(section.cls, raw, name, name, ctx)
            continue
        if isinstance(raw, Mapping):
            raise ctx.error(
                name, f"{name} must be an array of tables: write [[{name}]], not [{name}]"
            )
        if not isinstance(raw, list):
            raise ctx.error(
                name, f"{name} must be an array of tables ([[{name}]]), got {_describe(raw)}"
            )
        entries = tuple(
            _build_section(section.cls, item, f"{name}[{i}]", name, ctx)
            for i, item in enumerate(raw)
        )
        if section.unique:
            seen: dict[Any, int] = {}
            for i, entry in enumerate(entries):
                value = getattr(entry, section.unique)
                if value in seen:
                    where = f"{name}[{i}].{section.unique}"
                    raise ctx.error(
                        where,
                        f"{where} {value!r} is already used by {name}[{seen[value]}]; "
                        f"each of the {name} needs its own {section.unique}",
                    )
                seen[value] = i
        values[name] = entries
    settings = Settings(**values, source=ctx.source)
    names = [p.name for p in settings.printers]
    kinds = {p.name: p.kind for p in settings.printers}
    for field in ("picklist", "receipt", "picklist_receipt", "invoice"):
        target = getattr(settings.print, field)
        if kinds.get(target) == "zpl":
            raise ctx.error(
                f"print.{field}",
                f"print.{field} names {target!r}, a zpl label printer; {field.replace('_', ' + ')}"
                " documents print on an escpos receipt printer",
            )
    for field in dataclasses.fields(PrintSettings):
        target = getattr(settings.print, field.name)
        if target and target not in names:
            where = f"print.{field.name}"
            known = ", ".join(repr(n) for n in names)
            has = f"[[printers]] has only {known}" if names else "no [[printers]] are configured"
            raise ctx.error(where, f"{where} names printer {target!r}, but {has}")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}", source=str(path)) from None
    except RecursionError:
        # tomllib parses nested arrays and tables by recursion: a file nested hundreds deep
        # exhausts the stack (issue 10). No stationd setting nests past a few levels.
        raise ConfigError(
            f"{path}: not valid TOML: arrays or tables nested too deeply", source=str(path)
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not valid TOML: the file is not UTF-8 (byte {err.start})", source=str(path)
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot read the config file: {err.strerror or err}", source=str(path)
        ) from None


def _apply_overrides(
    data: Mapping[str, Any], overrides: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], frozenset[str]]:
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    sections = {f.name: f.metadata[_SECTION] for f in dataclasses.fields(Settings) if f.metadata}
    for dotted, value in overrides.items():
        section, dot, key = dotted.partition(".")
        if not dot or not section or not key or "." in key:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: override {dotted!r} must name a section and a key, "
                f"like 'kiosk.port'",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        if section not in sections:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: unknown section [{section}] in override {dotted!r}; "
                f"{_did_you_mean(section, sections)}",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        if sections[section].array:
            raise ConfigError(
                f"{OVERRIDES_SOURCE}: {section} can't be overridden key by key; "
                f"edit [[{section}]] in {source}",
                source=OVERRIDES_SOURCE,
                key=dotted,
            )
        table = merged.setdefault(section, {})
        if isinstance(table, dict):  # if not, the file's own error is reported
            table[key] = value
    return merged, frozenset(overrides)


# --------------------------------------------------------------------------- public API


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path | None:
    """Which config file to read.

    ``--config`` (``cli_value``) beats ``$STATIOND_CONFIG``, which beats
    :data:`DEFAULT_CONFIG_PATH` if that file exists. None means: use the built-in defaults.
    A file named by ``--config`` or the environment is returned even if it is missing, so that
    :func:`load_settings` reports it.
    """
    if cli_value:
        return Path(cli_value).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH
    return None


def settings_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Settings:
    """Validate an already-parsed config (TOML-shaped: sections of keys) into :class:`Settings`.

    Raises:
        ConfigError: naming ``source`` and the offending key.
    """
    return _build_settings(data, _Context(source))


def load_settings(path: Path | None, *, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the TOML file at ``path`` (None: built-in defaults) and return frozen settings.

    ``overrides`` maps ``"section.key"`` to a value, e.g. ``{"kiosk.port": 8081}``; they are
    applied on top of the file and validated exactly like it (an error in one names
    ``<overrides>``). ``[[scanners]]`` can't be overridden.

    Raises:
        ConfigError: the file is missing, unreadable or not TOML, or a key is unknown, of the
            wrong type or out of bounds. ``str(err)`` is one sentence meant for the user.
    """
    if path is None:
        data: dict[str, Any] = {}
        source = DEFAULTS_SOURCE
    else:
        data = _read_toml(path)
        source = str(path)
    overridden: frozenset[str] = frozenset()
    if overrides:
        data, overridden = _apply_overrides(data, overrides, source)
    settings = _build_settings(data, _Context(source, overridden))
    log.debug("configuration read from %s (%d overrides)", source, len(overridden))
    return settings
