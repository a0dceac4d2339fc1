"""Changes the station writes to its own config file — a network printer found by zeroconf, put
to use from the Devices page — keeping the file as its person wrote it: comments, order, every
other key. The new text is validated as a whole before it replaces the old one (atomically, with
the old file's owner and mode); a change that would not load is refused and nothing is lost.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from stationd.config import ConfigError, settings_from_dict

#: The [print] routes of each role a printer can be put to.
ROLES = {
    "receipt": ("picklist", "receipt", "picklist_receipt", "invoice"),
    "label": ("label",),
}
#: The printer kind each role takes.
KINDS = {"receipt": "escpos", "label": "zpl"}

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z_]+)\s*\]\]?\s*(#.*)?$")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _set_routes(lines: list[str], keys: tuple[str, ...], printer: str) -> list[str]:
    """`lines` with each [print] key set to `printer`: replaced where set, added where not."""
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if (m := _HEADER.match(line)) and m[1] == "print" and not line.lstrip().startswith("[[")
        ),
        None,
    )
    if start is None:
        return [*lines, "", "[print]", *(f"{key} = {_quoted(printer)}" for key in keys)]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    section = lines[start + 1 : end]
    for key in keys:
        pattern = re.compile(rf"^\s*{key}\s*=")
        at = next((i for i, line in enumerate(section) if pattern.match(line)), None)
        if at is None:
            section.insert(0, f"{key} = {_quoted(printer)}")
        else:
            section[at] = f"{key} = {_quoted(printer)}"
    return [*lines[: start + 1], *section, *lines[end:]]


@dataclass(frozen=True)
class PrinterChange:
    """A network printer added to a config: the new file and what was added, for a person."""

    path: Path
    printer: str  # its name in the file (numbered when the one asked for was taken)
    text: str  # the whole new file, validated
    added: str  # the lines added, to paste by hand where the station may not write its config


def network_printer_change(
    path: Path, *, role: str, name: str, host: str, port: int
) -> PrinterChange:
    """The config at `path` with a [[printers]] entry for a raw port-9100 printer at host:port
    and `role`'s documents routed to it. Raises ConfigError when that would not load."""
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}", source=str(path)) from None
    taken = {p.get("name") for p in data.get("printers", []) if isinstance(p, dict)}
    chosen, n = name, 2
    while chosen in taken:
        chosen, n = f"{name}-{n}", n + 1
    entry = [
        "# Added from the Devices page (found on the network by zeroconf).",
        "[[printers]]",
        f"name = {_quoted(chosen)}",
        f"kind = {_quoted(KINDS[role])}",
        'transport = "network"',
        f"host = {_quoted(host)}",
        f"port = {port}",
    ]
    # [[printers]] entries are an array of tables: the new one goes last, where nothing after
    # it can be taken for one of its keys.
    lines = _set_routes(text.rstrip("\n").split("\n"), ROLES[role], chosen)
    new = "\n".join([*lines, "", *entry]) + "\n"
    settings_from_dict(tomllib.loads(new), source=str(path))
    routes = "\n".join(f"{key} = {_quoted(chosen)}" for key in ROLES[role])
    return PrinterChange(path, chosen, new, f"[print]\n{routes}\n\n" + "\n".join(entry[1:]))


def write(change: PrinterChange) -> None:
    """Replace the file with the change, atomically, keeping its owner and mode.

    Raises OSError where the station may not write it — under its systemd unit the config is
    read-only to the service by design (ProtectSystem=strict): a person adds `change.added`.
    """
    st = change.path.stat()
    tmp = change.path.with_name(f".{change.path.name}.new")
    tmp.write_text(change.text)
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
        tmp.chmod(st.st_mode & 0o7777)
        tmp.replace(change.path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
