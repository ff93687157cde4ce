"""The media cores the tick runs are sans-IO: no sockets, event loop, clock or database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MEDIA = Path(__file__).parent.parent.parent / "softswitch" / "media"
PURE = ["jitter", "reception", "rtcp", "quality", "mixer", "dtmf", "dtmf_inband", "tick"]
FORBIDDEN = {"asyncio", "socket", "time", "sqlite3", "selectors", "threading", "uvloop"}


@pytest.mark.parametrize("module", PURE)
def test_pure_core_imports_nothing_with_io(module: str) -> None:
    tree = ast.parse((MEDIA / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
