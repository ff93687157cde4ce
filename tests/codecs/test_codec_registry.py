"""The registry picks codecs by SDP name; tests/test_import_rule.py checks the import rule."""

from __future__ import annotations

import pytest

from softswitch_codecs import CodecRegistry, CodecUsageError, UnknownCodecError, default_registry
from softswitch_codecs.g711 import Pcmu


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
