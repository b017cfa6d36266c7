"""The core imports only the standard library and itself (import-linter checks the listed
frameworks; this checks everything, including packages nobody thought to list)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_only_stdlib_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"core", "__future__"}
    offenders = {
        str(path.relative_to(CORE.parent)): sorted(_imported_roots(path) - allowed)
        for path in sorted(CORE.rglob("*.py"))
    }
    offenders = {path: roots for path, roots in offenders.items() if roots}
    assert offenders == {}, f"core must import only the standard library: {offenders}"


def test_core_reads_no_wall_clock() -> None:
    """Time comes through the Clock port: no datetime.now(), time.time() or uuid4() in core."""
    banned = ("datetime.now(", ".utcnow(", "time.time(", "uuid4(", "random.")
    hits = [
        f"{path.name}: {needle}"
        for path in sorted(CORE.rglob("*.py"))
        for needle in banned
        if needle in path.read_text()
    ]
    assert hits == []
