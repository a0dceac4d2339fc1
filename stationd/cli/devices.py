"""`stationd devices`: the scanners, printers and scales this machine has, and the configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from stationd.cli.root import (
    _clear_errors,
    _settings,
    main,
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
