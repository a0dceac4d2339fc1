"""One TOML file → frozen, typed settings.

The station reads one file (``/etc/stationd/stationd.toml`` unless told otherwise) and turns it
into a :class:`Settings` tree of frozen dataclasses. Every key is declared once, on the dataclass
field that holds it, with its type, default and bounds (``_int``, ``_float``, ``_str``, ``_choice``,
``_bool``, ``_path``, ``_usb_id``). One generic reader walks those declarations, so unknown keys,
wrong types and out-of-range values are reported the same way everywhere, as one sentence that
names the file and the key (and suggests the key you probably meant).

Adding a section (``[printers]``, ``[scale]`` …):

1. write a ``@dataclass(frozen=True, slots=True)`` whose fields use the key helpers below;
   a cross-key rule goes in a ``_check(self, at)`` method that raises ``_Invalid``;
2. add a field to :class:`Settings` with ``_section(TheClass)`` (a ``[table]``) or
   ``_array(TheClass, unique="name")`` (an ``[[array of tables]]``);
3. add the keys, with their defaults, to ``stationd.example.toml`` — a test checks it.

Nothing here runs at import time: call :func:`load_settings`.
"""

from stationd.config.fields import ConfigError
from stationd.config.sections import (
    MIN_LAN_TOKEN_LEN,
    DatabaseSettings,
    KioskSettings,
    LoggingSettings,
    PackScriptSettings,
    PrinterSettings,
    PrintSettings,
    ScaleSettings,
    ScannerSettings,
    ShopSettings,
    StationSettings,
    is_loopback,
)
from stationd.config.settings import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    Settings,
    config_path,
    load_settings,
    settings_from_dict,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "MIN_LAN_TOKEN_LEN",
    "ConfigError",
    "DatabaseSettings",
    "KioskSettings",
    "LoggingSettings",
    "PackScriptSettings",
    "PrintSettings",
    "PrinterSettings",
    "ScaleSettings",
    "ScannerSettings",
    "Settings",
    "ShopSettings",
    "StationSettings",
    "config_path",
    "is_loopback",
    "load_settings",
    "settings_from_dict",
]
