"""The station writing a network printer into its own config (issue 14): the person's text kept,
[print] keys replaced where set, a taken name numbered, and a change that would not load refused
with the file untouched."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stationd.config import ConfigError
from stationd.config_file import network_printer_change, write

WRITTEN = """# bench 1, set up by Kari
[station]
name = "bench-1"   # shown in the kiosk

[print]
# the old receipt printer
receipt = "receipts"
picklist = "receipts"

[[printers]]
name = "receipts"
kind = "simulated"
"""


def test_a_receipt_printer_is_added_and_routed_keeping_every_other_line(tmp_path: Path) -> None:
    path = tmp_path / "stationd.toml"
    path.write_text(WRITTEN)
    path.chmod(0o640)
    change = network_printer_change(
        path, role="receipt", name="receipts", host="10.0.0.9", port=9100
    )
    write(change)
    text = path.read_text()
    for line in (
        "# bench 1, set up by Kari",
        'name = "bench-1"   # shown in the kiosk',
        "# the old receipt printer",
    ):
        assert line in text
    data = tomllib.loads(text)
    assert change.printer == "receipts-2"  # "receipts" was taken
    assert data["print"] == {
        "receipt": "receipts-2",
        "picklist": "receipts-2",
        "picklist_receipt": "receipts-2",
        "invoice": "receipts-2",
    }
    assert data["printers"][1] == {
        "name": "receipts-2",
        "kind": "escpos",
        "transport": "network",
        "host": "10.0.0.9",
        "port": 9100,
    }
    assert path.stat().st_mode & 0o777 == 0o640
    assert "[[printers]]" in change.added and 'receipt = "receipts-2"' in change.added


def test_a_label_printer_in_a_file_without_print_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "stationd.toml"
    path.write_text('[station]\nname = "bench-1"\n')
    write(network_printer_change(path, role="label", name="label", host="10.0.0.7", port=9100))
    data = tomllib.loads(path.read_text())
    assert data["print"] == {"label": "label"}
    assert data["printers"][0]["kind"] == "zpl"


def test_a_change_that_would_not_load_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "stationd.toml"
    broken = '[station]\nname = "bench-1"\n[kiosk]\nprot = 8080\n'
    path.write_text(broken)
    with pytest.raises(ConfigError, match="did you mean 'port'"):
        network_printer_change(path, role="label", name="label", host="10.0.0.7", port=9100)
    assert path.read_text() == broken
