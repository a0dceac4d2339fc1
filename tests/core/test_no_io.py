"""ARCHITECTURE's first seam: core/ does no I/O — checked on the source, and on a fresh import.
The devices' renderers and previews (devices/rendering/) are held to the same rule: they turn
documents into bytes and pictures, and never touch a device, a socket or the database."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stationd.core
import stationd.devices.rendering

# ARCHITECTURE.md's list, and the other ways of talking to the world.
SEAM = {"sqlalchemy", "flask", "serial", "usb", "escpos", "zeroconf", "socket", "threading"}
FORBIDDEN = SEAM | {"evdev", "requests", "psycopg", "waitress", "subprocess", "asyncio", "http"}
CORE = Path(stationd.core.__file__).parent
RENDERING = Path(stationd.devices.rendering.__file__).parent
# python-escpos's command encoder is how ESC/POS bytes are made; its printers (escpos.printer,
# which loads pyserial, pyusb and socket) are not imported. Loaded along the way, and no I/O of
# the renderers': threading by logging, socket and http by xml.sax.saxutils (through urllib).
RENDERING_FORBIDDEN = FORBIDDEN - {"escpos"}
RENDERING_SEAM = FORBIDDEN - {"escpos", "threading", "socket", "http"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def loaded_on_import(package: str, watched: set[str]) -> str:
    """Which of `watched` a fresh interpreter has loaded after importing every module of
    `package`, as printed by it."""
    code = (
        f"import sys, pkgutil, importlib, {package} as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        f"    importlib.import_module('{package}.' + m.name)\n"
        f"bad = {sorted(watched)!r}\n"
        "print(sorted(b for b in bad if b in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_core_modules_import_no_io_library():
    offenders = {path.name: sorted(imported_roots(path) & FORBIDDEN) for path in CORE.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 6  # the check saw the modules


def test_importing_core_loads_no_io_library():
    assert loaded_on_import("stationd.core", SEAM) == "[]"


def test_rendering_modules_import_no_io_library():
    paths = list(RENDERING.glob("*.py"))
    offenders = {path.name: sorted(imported_roots(path) & RENDERING_FORBIDDEN) for path in paths}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 7  # the check saw the modules
    # Only the rules and the other renderers: never a driver, the store or the kiosk.
    ours = {
        node.module
        for path in paths
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stationd.")
    }
    allowed = ("stationd.core.", "stationd.devices.rendering.")
    assert {module for module in ours if not module.startswith(allowed)} == set()


def test_importing_rendering_loads_no_io_library():
    assert loaded_on_import("stationd.devices.rendering", RENDERING_SEAM) == "[]"
