"""media/call_recording.py without sockets: engine legs stand in as rows, the recorder is real.

The pair is relayed (each side is sent what the other sent), the file holds the caller left and
the callee right at 8 and 16 kHz, pause is silence, and a leg leaving the engine ends the
recording.
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

from softswitch.media.call_recording import RecordingTaps
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


def _recordings(root: Path, rate: int = 8000) -> tuple[RecordingTaps, Store]:
    store = Store()
    recordings = RecordingTaps(
        Engine(),  # type: ignore[arg-type]
        Recorder(root, rate),
        store,
        wall_clock=lambda: 1_700_000_000.0,
    )
    return recordings, store


def _tick(recordings: RecordingTaps, heard: np.ndarray, index: int) -> TickFrames:
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
    recording = recordings.start_pair(
        7, "call-7@test", caller, callee, caller_name="1001", callee_name="1002", agent="1005"
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
    recordings.stop(7)

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
    recordings.start_pair(1, "call-1@test", caller, callee, caller_name="a", callee_name="b")
    tone = sine(440.0, 8000, 1.0)
    for tick in range(50):
        if tick == 10:
            assert recordings.pause(1)
        if tick == 20:
            assert recordings.resume(1)
        chunk = tone[tick * SAMPLES : (tick + 1) * SAMPLES]
        _tick(recordings, np.stack([chunk, chunk]), tick)
    caller.endpoint.route = Route.RELAY  # moved back to the pass-through relay
    frames = _tick(recordings, np.zeros((2, SAMPLES), np.int16), 50)
    assert not frames.send.any()
    assert recordings.recording_of(1) is None and not recordings.pause(1)
    summary = store.events[-1][1]
    assert [(m.start_s, m.end_s) for m in summary.pauses] == [(0.2, 0.4)]
    audio, _ = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert audio.shape[0] == 50 * SAMPLES
    assert not audio[10 * SAMPLES : 20 * SAMPLES].any() and audio[20 * SAMPLES :].any()
