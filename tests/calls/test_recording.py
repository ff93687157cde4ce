"""calls/recording.py without sockets: engine legs stand in as rows, the recorder is real.

The pair is relayed (each side is sent what the other sent), the file holds the caller left and
the callee right at 8 and 16 kHz, a leg leaving the engine ends the recording, and the config
decides which calls are recorded.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from spectrum import peaks_hz, sine

from softswitch.calls.recording import CallRecordings
from softswitch.calls.routing import RouteTarget
from softswitch.config_recording import RecordingConfig
from softswitch.media.endpoint import Route
from softswitch.media.engine import TickFrames
from softswitch.media.recorder import Recorder

SAMPLES = 160


@dataclass
class Store:
    events: list[tuple[str, Any]] = field(default_factory=list)

    def opened(self, recording: Any, sample_rate: int, agent: str | None) -> None:
        self.events.append(("opened", agent))

    def paused(self, recording: Any, marks: Any) -> None:
        self.events.append(("paused", list(marks)))

    def closed(self, recording: Any, summary: Any, end_ts: float) -> None:
        self.events.append(("closed", summary))


class Engine:
    def add_processor(self, processor: object) -> None:
        pass

    def add_tap(self, tap: object) -> None:
        pass


def _leg(row: int) -> Any:
    return SimpleNamespace(row=row, endpoint=SimpleNamespace(closed=False, route=Route.CONSUMER))


def _call(call_id: int, caller: str = "1001", trunk: str | None = None) -> Any:
    invite = SimpleNamespace(call_id=f"call-{call_id}@test")
    return SimpleNamespace(
        id=call_id, caller=caller, trunk=trunk, caller_leg=SimpleNamespace(invite=invite)
    )


def _recordings(
    root: Path, rate: int = 8000, config: RecordingConfig | None = None
) -> tuple[CallRecordings, Store]:
    store = Store()
    recordings = CallRecordings(
        Engine(),  # type: ignore[arg-type]
        Recorder(root, rate),
        store,
        config or RecordingConfig(),
        wall_clock=lambda: 1_700_000_000.0,
    )
    return recordings, store


def _tick(recordings: CallRecordings, heard: np.ndarray, index: int) -> TickFrames:
    rows = heard.shape[0]
    frames = TickFrames(
        index, index * 0.02, heard, np.zeros_like(heard), np.zeros(rows, bool), np.ones(rows, bool)
    )
    recordings.process(frames)
    recordings.tap(frames)
    return frames


@pytest.mark.parametrize("rate", [8000, 16000])
def test_pair_is_relayed_and_recorded_caller_left_callee_right(rate: int) -> None:
    root = Path(tempfile.mkdtemp())
    recordings, store = _recordings(root, rate)
    # Rows 1 and 2 are the pair; row 0 is some other engine leg that must be left alone.
    caller, callee = _leg(1), _leg(2)
    call = _call(7)
    recording = recordings.record_bridge(
        call, caller, callee, caller_name="1001", callee_name="1002", agent="1005"
    )
    assert recording is not None
    left, right = sine(440.0, 8000, 2.0), sine(1000.0, 8000, 2.0)
    for tick in range(100):
        chunk = slice(tick * SAMPLES, (tick + 1) * SAMPLES)
        heard = np.stack([np.zeros(SAMPLES, np.int16), left[chunk], right[chunk]])
        frames = _tick(recordings, heard, tick)
        assert np.array_equal(frames.say[1], right[chunk]) and np.array_equal(
            frames.say[2], left[chunk]
        )
        assert frames.send.tolist() == [False, True, True]
    recordings.call_ended(call)

    kinds = [kind for kind, _ in store.events]
    assert kinds == ["opened", "closed"] and store.events[0][1] == "1005"
    summary = store.events[1][1]
    assert summary.duration_s == pytest.approx(2.0)
    audio, file_rate = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert file_rate == rate and audio.shape == (2 * rate, 2)
    assert peaks_hz(audio[rate // 10 :, 0], rate)[0] == pytest.approx(440.0, abs=3)
    assert peaks_hz(audio[rate // 10 :, 1], rate)[0] == pytest.approx(1000.0, abs=3)
    if rate == 8000:  # bit-exact: what each side sent is what the file holds
        assert np.array_equal(audio[:, 0], left) and np.array_equal(audio[:, 1], right)


def test_a_leg_leaving_the_engine_ends_the_recording_and_pause_is_silence() -> None:
    root = Path(tempfile.mkdtemp())
    recordings, store = _recordings(root)
    caller, callee = _leg(0), _leg(1)
    call = _call(1)
    recordings.record_bridge(call, caller, callee, caller_name="a", callee_name="b")
    tone = sine(440.0, 8000, 1.0)
    for tick in range(50):
        if tick == 10:
            assert recordings.pause(call)
        if tick == 20:
            assert recordings.resume(call)
        chunk = tone[tick * SAMPLES : (tick + 1) * SAMPLES]
        _tick(recordings, np.stack([chunk, chunk]), tick)
    caller.endpoint.route = Route.RELAY  # moved back to the pass-through relay
    frames = _tick(recordings, np.zeros((2, SAMPLES), np.int16), 50)
    assert not frames.send.any()
    assert recordings.recording_of(call) is None and not recordings.pause(call)
    summary = store.events[-1][1]
    assert [(m.start_s, m.end_s) for m in summary.pauses] == [(0.2, 0.4)]
    audio, _ = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert audio.shape[0] == 50 * SAMPLES
    assert not audio[10 * SAMPLES : 20 * SAMPLES].any() and audio[20 * SAMPLES :].any()


def test_config_decides_which_bridges_are_recorded() -> None:
    recordings, _ = _recordings(
        Path(tempfile.mkdtemp()),
        config=RecordingConfig(extensions=frozenset({"1001"}), trunks=frozenset({"carrier"})),
    )
    extension = RouteTarget("extension", "1002", "1002")
    assert recordings.wants(_call(1, caller="1001"), extension)  # the caller's extension
    assert recordings.wants(_call(1, caller="1003"), RouteTarget("extension", "1001", "1001"))
    assert not recordings.wants(_call(1, caller="1003"), extension)
    assert recordings.wants(_call(1, caller="+15550100", trunk="carrier"), extension)  # inbound
    assert recordings.wants(_call(1, caller="1003"), RouteTarget("trunk", "carrier", "555"))
    assert not recordings.wants(_call(1, caller="1003"), RouteTarget("trunk", "other", "555"))
