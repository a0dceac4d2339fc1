"""ARCHITECTURE's first seam: core/ does no I/O — checked on the source, and on a fresh import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stationd.core

# ARCHITECTURE.md's list, and the other ways of talking to the world.
SEAM = {"sqlalchemy", "flask", "serial", "usb", "escpos", "zeroconf", "socket", "threading"}
FORBIDDEN = SEAM | {"evdev", "requests", "psycopg", "waitress", "subprocess", "asyncio", "http"}
CORE = Path(stationd.core.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_modules_import_no_io_library():
    offenders = {path.name: sorted(imported_roots(path) & FORBIDDEN) for path in CORE.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 6  # the check saw the modules


def test_importing_core_loads_no_io_library():
    code = (
        "import sys, pkgutil, importlib, stationd.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__):\n"
        "    importlib.import_module('stationd.core.' + m.name)\n"
        f"bad = {sorted(SEAM)!r}\n"
        "print(sorted(b for b in bad if b in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
