"""Every kind of device a config can name comes out of the factory as the right class."""

from __future__ import annotations

from stationd.config import settings_from_dict
from stationd.devices.factory import make_printer, make_scale, make_scanner
from stationd.events import Bus

CONFIG = {
    "scanners": [
        {"name": "s", "kind": "serial", "port": "/dev/stationd-scanner"},
        {"name": "k", "kind": "keyboard", "usb_vid": "0c2e", "usb_pid": "0b61", "layout": "se"},
        {"name": "h", "kind": "hidpos", "usb_vid": "0c2e", "usb_pid": "0b8f"},
        {"name": "v", "kind": "simulated"},
    ],
    "printers": [
        {"name": "r", "kind": "escpos", "host": "127.0.0.1"},
        {"name": "u", "kind": "escpos", "transport": "usb", "usb_vid": "04b8", "usb_pid": "0202"},
        {"name": "l", "kind": "zpl", "transport": "file", "device": "/dev/usb/lp1"},
        {"name": "p", "kind": "simulated"},
    ],
}


def test_each_scanner_kind_is_built_without_touching_hardware():
    settings = settings_from_dict(CONFIG)
    built = [type(make_scanner(cfg, Bus())).__name__ for cfg in settings.scanners]
    assert built == ["SerialScanner", "KeyboardScanner", "HidPosScanner", "SimulatedScanner"]


def test_each_printer_kind_is_built_without_touching_hardware(tmp_path):
    settings = settings_from_dict(CONFIG)
    printers = [make_printer(cfg, state_dir=tmp_path) for cfg in settings.printers]
    assert [type(p).__name__ for p in printers] == [
        "EscposPrinter",
        "EscposPrinter",
        "ZplPrinter",
        "SimulatedPrinter",
    ]
    assert [p.name for p in printers] == ["r", "u", "l", "p"]


def test_scale_kinds():
    bus = Bus()
    assert make_scale(settings_from_dict({}).scale, bus) is None
    sim = make_scale(settings_from_dict({"scale": {"kind": "simulated"}}).scale, bus)
    assert type(sim).__name__ == "SimulatedScale"
    serial = make_scale(
        settings_from_dict({"scale": {"kind": "serial", "port": "/dev/ttyUSB9"}}).scale, bus
    )
    assert type(serial).__name__ == "SerialScale"
