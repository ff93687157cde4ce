"""calls/recording.py: which bridges the config records (the audio side is media/'s, tested in
tests/media/test_recording_taps.py; end to end in tests/integration/test_call_recording.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from softswitch.calls.recording import CallRecordings
from softswitch.calls.routing import RouteTarget
from softswitch.config_recording import RecordingConfig
from softswitch.media.call_recording import RecordingTaps
from softswitch.media.recorder import Recorder


class _Nothing:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _call(caller: str, trunk: str | None = None) -> Any:
    return SimpleNamespace(id=1, caller=caller, trunk=trunk)


def test_config_decides_which_bridges_are_recorded() -> None:
    taps = RecordingTaps(_Nothing(), Recorder(Path(tempfile.mkdtemp())), _Nothing())
    recordings = CallRecordings(
        taps, RecordingConfig(extensions=frozenset({"1001"}), trunks=frozenset({"carrier"}))
    )
    extension = RouteTarget("extension", "1002", "1002")
    assert recordings.wants(_call("1001"), extension)  # the caller's extension
    assert recordings.wants(_call("1003"), RouteTarget("extension", "1001", "1001"))
    assert not recordings.wants(_call("1003"), extension)
    assert recordings.wants(_call("+15550100", trunk="carrier"), extension)  # inbound
    assert recordings.wants(_call("1003"), RouteTarget("trunk", "carrier", "555"))
    assert not recordings.wants(_call("1003"), RouteTarget("trunk", "other", "555"))
