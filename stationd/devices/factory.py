"""Devices from config entries: the one place that knows which class serves which settings.

Real and simulated devices come out of the same functions (OctoPrint's virtual printer plugs in
through the same factory as the real one), so the station never branches on "demo or not".
"""

from __future__ import annotations

from pathlib import Path

from stationd.config import PrinterSettings, ScaleSettings, ScannerSettings
from stationd.devices.ports import PortSpec
from stationd.devices.printers import (
    escpos_file,
    escpos_network,
    escpos_printer,
    escpos_serial,
    escpos_usb,
    zpl_file,
    zpl_network,
    zpl_printer,
    zpl_usb,
)
from stationd.devices.printers.printer import Printer
from stationd.devices.printers.simulated import SimulatedPrinter
from stationd.devices.scales.scale import SimulatedScale
from stationd.events import Bus


def make_scanner(cfg: ScannerSettings, bus: Bus):  # type: ignore[no-untyped-def]
    """The scanner a `[[scanners]]` entry describes, not yet started."""
    if cfg.kind == "simulated":
        from stationd.devices.scanners.simulated import SimulatedScanner

        return SimulatedScanner(cfg.name, bus, fifo_path=cfg.fifo_path)
    usb = (
        PortSpec(usb_vid=cfg.usb_vid, usb_pid=cfg.usb_pid, serial_number=cfg.serial_number or None)
        if cfg.usb_vid is not None
        else None
    )
    if cfg.kind == "hidpos":
        from stationd.devices.scanners.hidpos import HidPosScanner

        return HidPosScanner(
            cfg.name,
            bus,
            cfg.usb_vid,
            cfg.usb_pid,
            cfg.serial_number or None,
            max_frame_len=cfg.max_frame_len,
            frame_timeout_s=cfg.frame_timeout_s,
            reconnect_max_s=cfg.reconnect_max_s,
        )
    spec = usb or PortSpec(path=cfg.port)
    framing = {
        "strip_prefix": cfg.strip_prefix,
        "strip_suffix": cfg.strip_suffix,
        "aim_ids": cfg.aim_ids,
        "max_frame_len": cfg.max_frame_len,
        "frame_timeout_s": cfg.frame_timeout_s,
        "reconnect_max_s": cfg.reconnect_max_s,
    }
    if cfg.kind == "keyboard":
        from stationd.devices.scanners.keyboard import KeyboardScanner

        return KeyboardScanner(cfg.name, bus, spec, layout=cfg.layout, **framing)
    from stationd.devices.scanners.serial import SerialScanner

    return SerialScanner(
        cfg.name,
        bus,
        spec,
        baudrate=cfg.baudrate,
        bytesize=cfg.bytesize,
        parity=cfg.parity,
        stopbits=cfg.stopbits,
        suffix=cfg.suffix,  # type: ignore[arg-type]
        **framing,
    )


def make_printer(cfg: PrinterSettings, *, state_dir: Path | None = None) -> Printer:
    """The printer a `[[printers]]` entry describes; nothing is opened until it prints."""
    if cfg.kind == "simulated":
        folder = state_dir / "printed" / cfg.name if state_dir is not None else None
        return SimulatedPrinter(cfg.name, folder=folder)
    if cfg.kind == "escpos":
        transport: object = {
            "network": lambda: escpos_network.NetworkTransport(cfg.host, cfg.port, cfg.timeout_s),
            "serial": lambda: escpos_serial.SerialTransport(
                cfg.device, cfg.baudrate, cfg.timeout_s
            ),
            "usb": lambda: escpos_usb.UsbTransport(
                cfg.usb_vid,  # type: ignore[arg-type]
                cfg.usb_pid,  # type: ignore[arg-type]
                timeout_s=cfg.timeout_s,
                serial_number=cfg.serial_number or None,
            ),
            "file": lambda: escpos_file.FileTransport(cfg.device, cfg.timeout_s),
        }[cfg.transport]()
        return escpos_printer.EscposPrinter(cfg.name, transport)  # type: ignore[arg-type]
    zpl_transport: object = {
        "network": lambda: zpl_network.TcpTransport(
            cfg.host, cfg.port, connect_timeout_s=cfg.timeout_s, send_timeout_s=cfg.timeout_s * 2
        ),
        "usb": lambda: zpl_usb.UsbTransport(
            cfg.usb_vid,  # type: ignore[arg-type]
            cfg.usb_pid,  # type: ignore[arg-type]
            cfg.serial_number or None,
            write_timeout_s=cfg.timeout_s * 2,
        ),
        "file": lambda: zpl_file.FileTransport(cfg.device, write_timeout_s=cfg.timeout_s),
    }[cfg.transport]()
    return zpl_printer.ZplPrinter(cfg.name, zpl_transport)  # type: ignore[arg-type]


def make_scale(cfg: ScaleSettings, bus: Bus):  # type: ignore[no-untyped-def]
    """The scale `[scale]` describes, not yet started; None for ``kind = "none"``."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "simulated":
        return SimulatedScale("scale", bus)
    if cfg.kind == "serial":
        from stationd.devices.scales.serial import SerialScale

        spec = (
            PortSpec(path=cfg.port)
            if cfg.port
            else PortSpec(
                usb_vid=cfg.usb_vid, usb_pid=cfg.usb_pid, serial_number=cfg.serial_number or None
            )
        )
        return SerialScale(
            "scale",
            bus,
            spec,
            protocol=cfg.protocol,  # type: ignore[arg-type]
            baudrate=cfg.baudrate,
        )
    from stationd.devices.scales.hidpos import HidPosScale

    return HidPosScale(
        "scale",
        bus,
        PortSpec(usb_vid=cfg.usb_vid, usb_pid=cfg.usb_pid, serial_number=cfg.serial_number or None),
    )
