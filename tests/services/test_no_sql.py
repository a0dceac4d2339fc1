"""Issue 9 point 2: SQL lives in store/ — no services/ module imports SQLAlchemy at module level
(an import under `if TYPE_CHECKING:`, for annotations only, is fine), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import stationd.services

SERVICES = Path(stationd.services.__file__).parent


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run at import: the module's own, and those in its ifs, trys, withs and
    class bodies (but not under `if TYPE_CHECKING:`), not those inside functions."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.If):
            if not _type_checking_only(node):
                found += _module_level(node.body)
            found += _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level(part)
        elif isinstance(node, ast.With | ast.ClassDef):  # a class body runs at import too
            found += _module_level(node.body)
    return found


def imports_sqlalchemy_at_module_level(source: str, name: str = "<source>") -> list[int]:
    """The line numbers of the module-level imports of sqlalchemy in `source`."""
    lines = []
    for node in _module_level(ast.parse(source, name).body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n.split(".")[0] == "sqlalchemy" for n in names):
            lines.append(node.lineno)
    return lines


def test_no_services_module_imports_sqlalchemy_at_module_level():
    modules = sorted(SERVICES.glob("*.py"))
    offenders = {
        path.name: lines
        for path in modules
        if (lines := imports_sqlalchemy_at_module_level(path.read_text(), str(path)))
    }
    assert offenders == {}
    assert len(modules) >= 10  # the check saw the modules


def test_the_check_finds_imports_at_module_level_and_lets_annotations_and_functions_be():
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import sqlalchemy.exc\n"  # 3
        "try:\n"
        "    from sqlalchemy import select\n"  # 5
        "except ImportError:\n"
        "    pass\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy import Connection\n"
        "else:\n"
        "    from sqlalchemy import Engine\n"  # 11
        "def f():\n"
        "    from sqlalchemy import text\n"
        "class C:\n"
        "    import sqlalchemy\n"  # 15
        "import stationd.store.orders\n"
    )
    assert imports_sqlalchemy_at_module_level(source) == [3, 5, 11, 15]
