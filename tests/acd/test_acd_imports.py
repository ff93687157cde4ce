"""The import rule: the ACD core does no I/O and imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

ACD = Path(__file__).resolve().parents[2] / "softswitch" / "acd"
FORBIDDEN = {"asyncio", "socket", "sqlite3", "time", "aiosqlite", "selectors", "threading"}


def test_acd_imports_nothing_with_io() -> None:
    modules = sorted(ACD.glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN, f"{path.name} imports {name}"
                if root == "softswitch":
                    assert name.startswith("softswitch.acd"), f"{path.name} imports {name}"
