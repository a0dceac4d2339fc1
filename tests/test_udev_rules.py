"""The udev rules, tested as code: only the listed devices, matched by vendor AND product id, get
the station's group with mode 0660 and a /dev/stationd-* name; never 0666, never a rule for
every USB device.

The file is parsed, checked rule by rule, and run through a small evaluator of the udev rule
language (match keys, assignments, GOTO/LABEL, $env substitution) against the properties of
a few devices, so "a keyboard gets nothing" is shown, not only assumed. `udevadm verify`
checks the syntax where this machine's udev has it (systemd 253 and later).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stationd.devices.usb_find import SCANNER_VENDORS

RULES = Path(__file__).resolve().parents[1] / "udev" / "99-stationd.rules"

_KEY = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*(?:,|$)'
)
_MATCH_OPS = ("==", "!=")


@dataclass
class Key:
    key: str
    attr: str | None
    op: str
    value: str

    @property
    def name(self) -> str:
        return f"{self.key}{{{self.attr}}}" if self.attr is not None else self.key


@dataclass
class Rule:
    line: int
    keys: list[Key]
    text: str

    def matches(self) -> list[Key]:
        return [k for k in self.keys if k.op in _MATCH_OPS and k.key != "GOTO"]

    def assigns(self) -> list[Key]:
        return [k for k in self.keys if k.op not in _MATCH_OPS or k.key == "GOTO"]

    def match(self, name: str) -> Key | None:
        return next((k for k in self.matches() if k.name == name), None)


def parse(text: str) -> list[Rule]:
    rules = []
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not logical:
            start = number
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        if logical and not logical.startswith("#"):
            keys, pos = [], 0
            while pos < len(logical):
                found = _KEY.match(logical, pos)
                assert found, f"line {start}: cannot parse {logical[pos:]!r}"
                keys.append(Key(found["key"], found["attr"], found["op"], found["value"]))
                pos = found.end()
            rules.append(Rule(start, keys, logical))
        logical = ""
    return rules


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return parse(RULES.read_text())


# --- the rules one by one -------------------------------------------------------------------------


def test_the_file_parses_into_rules(rules: list[Rule]) -> None:
    assert len(rules) > 20


def test_no_device_is_ever_world_accessible(rules: list[Rule]) -> None:
    modes = [k.value for r in rules for k in r.keys if k.key == "MODE"]
    assert modes == ["0660"]
    assert "0666" not in RULES.read_text()
    assert [k.value for r in rules for k in r.keys if k.key == "GROUP"] == ["stationd"]
    assert not [k for r in rules for k in r.keys if k.key in ("OWNER", "RUN", "PROGRAM")]
    assert not [k for r in rules for k in r.keys if k.key == "TAG" and k.value == "uaccess"]


def test_only_devices_named_by_vendor_and_product_id_are_marked(rules: list[Rule]) -> None:
    marking = [
        r for r in rules if any(k.name == "ENV{STATIOND_DEVICE}" and k.op == "=" for k in r.keys)
    ]
    assert len(marking) >= 15
    for rule in marking:
        vendor = rule.match("ATTRS{idVendor}") or rule.match("ATTR{idVendor}")
        product = rule.match("ATTRS{idProduct}") or rule.match("ATTR{idProduct}")
        subsystem = rule.match("SUBSYSTEM")
        assert vendor and product and subsystem, f"line {rule.line}: {rule.text}"
        assert (vendor.op, product.op, subsystem.op) == ("==", "==", "==")
        # exact ids, no globs: "1eab" and "8210", never "1eab" with "*"
        assert re.fullmatch(r"[0-9a-f]{4}", vendor.value), rule.line
        assert re.fullmatch(r"[0-9a-f]{4}", product.value), rule.line
        assert subsystem.value in ("tty", "input", "usb", "usbmisc"), rule.line
        if subsystem.value == "usb":
            devtype = rule.match("ENV{DEVTYPE}")
            assert devtype and devtype.value == "usb_device", rule.line


def test_every_grant_depends_on_the_mark(rules: list[Rule]) -> None:
    # GROUP, MODE, SYMLINK and the rest are given only where ENV{STATIOND_DEVICE} is set, and
    # only the marking rules above set it.
    granting = [
        r
        for r in rules
        if any(
            k.key in ("GROUP", "MODE", "SYMLINK", "IMPORT") or k.name.startswith("ENV{LIBINPUT")
            for k in r.assigns()
        )
    ]
    assert granting
    for rule in granting:
        mark = rule.match("ENV{STATIOND_DEVICE}")
        assert mark and mark.op == "==" and mark.value in ("?*", "scanner", "printer"), rule.line


def test_no_rule_matches_every_usb_device(rules: list[Rule]) -> None:
    for rule in rules:
        subsystem = rule.match("SUBSYSTEM")
        if subsystem and subsystem.value.startswith("usb"):
            names = {k.name for k in rule.matches()}
            assert names & {"ATTR{idVendor}", "ATTRS{idVendor}"}, rule.line
            assert names & {"ATTR{idProduct}", "ATTRS{idProduct}"}, rule.line


def test_symlinks_are_the_stations_own_and_gotos_land(rules: list[Rule]) -> None:
    links = [k.value for r in rules for k in r.keys if k.key == "SYMLINK"]
    assert links and all(link.startswith("stationd-") for link in links)
    labels = {k.value for r in rules for k in r.keys if k.key == "LABEL"}
    gotos = {k.value for r in rules for k in r.keys if k.key == "GOTO"}
    assert gotos <= labels


def test_every_scanner_maker_in_the_rules_is_known_to_the_device_listing(rules: list[Rule]) -> None:
    vendors = set()
    for rule in rules:
        if any(
            k.name == "ENV{STATIOND_DEVICE}" and k.value == "scanner" and k.op == "="
            for k in rule.keys
        ):
            vendor = rule.match("ATTRS{idVendor}") or rule.match("ATTR{idVendor}")
            assert vendor is not None
            vendors.add(int(vendor.value, 16))
    assert vendors and vendors <= set(SCANNER_VENDORS)


# --- the rules run against devices ---------------------------------------------------------------


@dataclass
class Device:
    """What udev knows of a device when it runs the rules."""

    subsystem: str
    kernel: str
    env: dict[str, str] = field(default_factory=dict)
    attr: dict[str, str] = field(default_factory=dict)  # the device's own sysfs attributes
    usb: dict[str, str] = field(default_factory=dict)  # its USB device parent's (ATTRS)
    group: str = "root"
    mode: str = "0600"
    symlinks: list[str] = field(default_factory=list)

    def import_usb_id(self) -> None:
        self.env["ID_VENDOR_ID"] = self.usb.get("idVendor", "")
        self.env["ID_MODEL_ID"] = self.usb.get("idProduct", "")
        if self.usb.get("serial"):
            self.env["ID_SERIAL_SHORT"] = self.usb["serial"]


def _value(device: Device, key: Key) -> str | None:
    if key.key == "SUBSYSTEM":
        return device.subsystem
    if key.key == "KERNEL":
        return device.kernel
    if key.key == "ACTION":
        return "add"
    if key.key == "ENV":
        return device.env.get(key.attr or "", "")
    if key.key == "ATTR":
        return device.attr.get(key.attr or "")
    if key.key == "ATTRS":
        return device.attr.get(key.attr or "") or device.usb.get(key.attr or "")
    raise AssertionError(f"the evaluator does not know {key.name}")


def _glob(value: str | None, pattern: str) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in pattern.split("|"))


def run(rules: list[Rule], device: Device) -> Device:
    skipping_to = None
    for rule in rules:
        if skipping_to is not None:
            if any(k.key == "LABEL" and k.value == skipping_to for k in rule.keys):
                skipping_to = None
            continue
        if not all(_glob(_value(device, k), k.value) == (k.op == "==") for k in rule.matches()):
            continue
        for key in rule.assigns():
            value = re.sub(r"\$env\{(\w+)\}", lambda m: device.env.get(m[1], ""), key.value)
            if key.key == "GOTO":
                skipping_to = value
            elif key.key == "GROUP":
                device.group = value
            elif key.key == "MODE":
                device.mode = value
            elif key.key == "SYMLINK":
                device.symlinks.append(value)
            elif key.key == "ENV":
                device.env[key.attr or ""] = value
            elif key.key == "IMPORT" and key.attr == "builtin" and value == "usb_id":
                device.import_usb_id()
    return device


def usb_device(vid: str, pid: str, serial: str = "") -> Device:
    ids = {"idVendor": vid, "idProduct": pid, "serial": serial}
    return Device("usb", "1-1.3", env={"DEVTYPE": "usb_device"}, attr=ids, usb=ids)


def test_a_keyboard_and_a_mouse_get_nothing(rules: list[Rule]) -> None:
    for device in (
        Device(
            "input",
            "event0",
            env={"ID_INPUT_KEYBOARD": "1"},
            usb={"idVendor": "046d", "idProduct": "c31c"},
        ),
        usb_device("046d", "c31c"),
        usb_device("046d", "c077"),
        Device("tty", "ttyUSB0", usb={"idVendor": "0403", "idProduct": "6001", "serial": "FT1"}),
    ):
        done = run(rules, device)
        assert (done.group, done.mode, done.symlinks) == ("root", "0600", []), device
        assert "LIBINPUT_IGNORE_DEVICE" not in done.env


def test_a_keyboard_mode_scanner_gets_the_group_a_name_and_libinput_lets_it_be(
    rules: list[Rule],
) -> None:
    ids = {"idVendor": "05e0", "idProduct": "1200", "serial": "S18123B4C2A"}
    kbd = run(rules, Device("input", "event7", env={"ID_INPUT_KEYBOARD": "1"}, usb=ids))
    assert (kbd.group, kbd.mode) == ("stationd", "0660")
    assert kbd.symlinks == ["stationd-scanner-S18123B4C2A"]
    assert kbd.env["LIBINPUT_IGNORE_DEVICE"] == "1"
    consumer = run(rules, Device("input", "event8", env={"ID_INPUT_KEY": "1"}, usb=ids))
    assert (consumer.group, consumer.symlinks) == ("stationd", [])  # no second claim on the name
    # Its "mouse" node or the input parent (not event*) is left alone.
    assert run(rules, Device("input", "input7", usb=ids)).group == "root"


def test_serial_and_hidpos_scanners_and_printers(rules: list[Rule]) -> None:
    tty = run(
        rules,
        Device("tty", "ttyACM0", usb={"idVendor": "1eab", "idProduct": "8206", "serial": "N42"}),
    )
    assert (tty.group, tty.mode, tty.symlinks) == ("stationd", "0660", ["stationd-scanner-N42"])
    hidpos = run(rules, usb_device("1eab", "1c10"))  # no serial number
    assert (hidpos.group, hidpos.symlinks) == ("stationd", ["stationd-scanner-1eab-1c10"])
    # The same model in its keyboard-mode id is not the HID POS one.
    assert run(rules, usb_device("1eab", "1c03")).group == "root"
    printer = run(rules, usb_device("04b8", "0202", "TMT88V01"))
    assert (printer.group, printer.symlinks) == ("stationd", [])
    lp = run(
        rules,
        Device(
            "usbmisc", "lp0", usb={"idVendor": "04b8", "idProduct": "0202", "serial": "TMT88V01"}
        ),
    )
    assert (lp.group, lp.mode, lp.symlinks) == ("stationd", "0660", ["stationd-printer-TMT88V01"])


def test_removal_is_not_handled(rules: list[Rule]) -> None:
    first = rules[0]
    assert first.match("ACTION") is not None and first.match("ACTION").value == "remove"
    assert [k.value for k in first.assigns()] == ["stationd_end"]


@pytest.mark.skipif(shutil.which("udevadm") is None, reason="no udevadm here")
def test_udevadm_verify(tmp_path: Path) -> None:
    probe = subprocess.run(["udevadm", "verify", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no 'verify' (systemd < 253)")
    result = subprocess.run(
        ["udevadm", "verify", "--resolve-names=never", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_hidpos_scale_gets_the_group_and_its_name(rules: list[Rule]) -> None:
    scale = run(rules, usb_device("0922", "8003", "SC01"))
    assert (scale.group, scale.mode) == ("stationd", "0660")
    assert scale.symlinks == ["stationd-scale-SC01"]
    # A USB-serial adapter's ids alone never make it the scale: every FTDI cable has them.
    adapter = Device("tty", "ttyUSB0", usb={"idVendor": "0403", "idProduct": "6001"})
    assert run(rules, adapter).group == "root"


def test_the_names_in_the_docs_are_names_the_rules_make(rules: list[Rule]) -> None:
    # Issue 10 item 10: the README and example config said /dev/stationd-scanner, which no rule
    # made. Every /dev/stationd-… they name now has a kind and a serial, as the rules build it.
    root = RULES.parents[1]
    said = set()
    for doc in ("README.md", "stationd.example.toml"):
        said |= set(re.findall(r"/dev/stationd-[\w<>-]+", (root / doc).read_text()))
    assert said
    for name in said:
        assert re.fullmatch(r"/dev/stationd-(scanner|printer|scale)-[\w<>]+(-[\w]+)?", name), name
    links = {k.value for r in rules for k in r.keys if k.key == "SYMLINK"}
    assert links == {
        "stationd-$env{STATIOND_DEVICE}-$env{ID_SERIAL_SHORT}",
        "stationd-$env{STATIOND_DEVICE}-$env{ID_VENDOR_ID}-$env{ID_MODEL_ID}",
    }
