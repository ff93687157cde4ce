"""The console reaches the switch through the API client alone: no module of it imports the
switch's own layers (calls/, acd/, store/, the API's server side), so that it runs the same on
the switch's machine and on a supervisor's laptop."""

from __future__ import annotations

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "softswitch" / "console"
ALLOWED = ("softswitch.console", "softswitch.api.client")


def _ours(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.append("relative")
    return [n for n in names if n.startswith("softswitch") or n == "relative"]


def test_the_console_imports_only_itself_and_the_api_client() -> None:
    modules = sorted(CONSOLE.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        for name in _ours(path):
            assert any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED), (
                f"{path.name} imports {name}"
            )
