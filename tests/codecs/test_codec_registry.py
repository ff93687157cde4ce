"""The registry picks codecs by SDP name; the codecs package stays a pure core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from softswitch_codecs import CodecRegistry, CodecUsageError, UnknownCodecError, default_registry
from softswitch_codecs.g711 import Pcmu

CODECS_DIR = Path(__file__).resolve().parents[2] / "codecs"
# What a pure core must never touch (CONVENTIONS: sans-IO); soxr and G722 are C maths only.
FORBIDDEN = {"asyncio", "socket", "sqlite3", "time", "threading", "subprocess", "softswitch"}


def test_default_registry_has_the_shipped_codecs_case_blind() -> None:
    registry = default_registry()
    assert list(registry) == ["G722", "PCMA", "PCMU"]
    assert "pcmu" in registry and "opus" not in registry and 0 not in registry
    assert registry.create("pcma", 8000).info.static_payload_type == 8


def test_registries_are_independent_objects() -> None:
    one, other = default_registry(), CodecRegistry()
    other.register("X-TEST", lambda _rate: Pcmu())
    assert "X-TEST" in other and "X-TEST" not in one
    with pytest.raises(CodecUsageError):
        other.register("x-test", lambda _rate: Pcmu())
    with pytest.raises(UnknownCodecError):
        CodecRegistry().create("PCMU", 8000)


def test_codecs_import_nothing_with_io() -> None:
    for path in sorted(CODECS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
