"""media/call_recording.py without sockets: engine legs stand in as rows, the recorder is real.

The taps only listen (the bridge relays): the file holds the caller left and the callee right at
8 and 16 kHz, pause is silence, a side with no engine leg on its endpoint (the holder while the
other party hears music on hold) is silence while the recording goes on, and a closed endpoint
ends it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from recording_store import Store
from spectrum import peaks_hz, sine

from softswitch.media.call_recording import RecordingTaps
from softswitch.media.engine import TickFrames
from softswitch.media.recorder import Recorder

SAMPLES = 160


class Engine:
    """The engine's legs by endpoint, as `leg_of` gives them; a test moves them by hand."""

    def __init__(self) -> None:
        self.legs: dict[Any, Any] = {}

    def add_tap(self, tap: object) -> None:
        pass

    def leg_of(self, endpoint: Any) -> Any:
        return self.legs.get(endpoint)


class _Endpoint:
    closed = False


def _endpoint(engine: Engine, row: int) -> Any:
    endpoint = _Endpoint()
    engine.legs[endpoint] = SimpleNamespace(row=row)
    return endpoint


def _recordings(root: Path, rate: int = 8000) -> tuple[RecordingTaps, Store, Engine]:
    store, engine = Store(), Engine()
    recordings = RecordingTaps(
        engine,  # type: ignore[arg-type]
        Recorder(root, rate),
        store,
        wall_clock=lambda: 1_700_000_000.0,
    )
    return recordings, store, engine


def _tick(recordings: RecordingTaps, heard: np.ndarray, index: int) -> TickFrames:
    rows = heard.shape[0]
    frames = TickFrames(
        index, index * 0.02, heard, np.zeros_like(heard), np.zeros(rows, bool), np.ones(rows, bool)
    )
    recordings.tap(frames)
    return frames


@pytest.mark.parametrize("rate", [8000, 16000])
def test_pair_is_recorded_caller_left_callee_right_and_nothing_is_sent(rate: int) -> None:
    root = Path(tempfile.mkdtemp())
    recordings, store, engine = _recordings(root, rate)
    # Rows 1 and 2 are the pair; row 0 is some other engine leg that must be left alone.
    caller, callee = _endpoint(engine, 1), _endpoint(engine, 2)
    recording = recordings.start_pair(
        7, "call-7@test", caller, callee, caller_name="1001", callee_name="1002", agent="1005"
    )
    assert recording is not None
    left, right = sine(440.0, 8000, 2.0), sine(1000.0, 8000, 2.0)
    for tick in range(100):
        chunk = slice(tick * SAMPLES, (tick + 1) * SAMPLES)
        heard = np.stack([np.zeros(SAMPLES, np.int16), left[chunk], right[chunk]])
        frames = _tick(recordings, heard, tick)
        assert not frames.say.any() and not frames.send.any()  # the bridge relays, not the tap
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


def test_pause_is_silence_a_side_out_of_the_engine_is_silence_and_a_closed_endpoint_ends_it() -> (
    None
):
    root = Path(tempfile.mkdtemp())
    recordings, store, engine = _recordings(root)
    caller, callee = _endpoint(engine, 0), _endpoint(engine, 1)
    recordings.start_pair(1, "call-1@test", caller, callee, caller_name="a", callee_name="b")
    tone = sine(440.0, 8000, 1.2)
    for tick in range(60):
        if tick == 10:
            assert recordings.pause(1)
        if tick == 20:
            assert recordings.resume(1)
        if tick == 30:  # the caller holds: its leg leaves the engine, the callee hears music
            del engine.legs[caller]
            engine.legs[callee] = SimpleNamespace(row=0)
        if tick == 40:  # a leg taken inside a tick has no row until the tick ends
            engine.legs[caller] = SimpleNamespace(row=-1)
        if tick == 45:  # resumed: both back in the engine, in other rows
            engine.legs[caller], engine.legs[callee] = (
                SimpleNamespace(row=1),
                SimpleNamespace(row=0),
            )
        chunk = tone[tick * SAMPLES : (tick + 1) * SAMPLES]
        rows = 1 if 30 <= tick < 45 else 2
        _tick(recordings, np.stack([chunk] * rows), tick)
    assert recordings.recording_of(1) is not None  # hold did not end it
    caller.closed = True  # the call's media went
    _tick(recordings, np.zeros((2, SAMPLES), np.int16), 60)
    assert recordings.recording_of(1) is None and not recordings.pause(1)
    summary = store.events[-1][1]
    assert [(m.start_s, m.end_s) for m in summary.pauses] == [(0.2, 0.4)]
    audio, _ = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert audio.shape[0] == 60 * SAMPLES  # every tick of the call, hold included
    frames = slice(0, 10 * SAMPLES), slice(20 * SAMPLES, 30 * SAMPLES)
    for part in frames:
        assert np.array_equal(audio[part, 0], tone[part]) and np.array_equal(
            audio[part, 1], tone[part]
        )
    assert not audio[10 * SAMPLES : 20 * SAMPLES].any()
    held = slice(30 * SAMPLES, 45 * SAMPLES)
    assert not audio[held, 0].any() and np.array_equal(audio[held, 1], tone[held])
    after = slice(45 * SAMPLES, 60 * SAMPLES)
    assert np.array_equal(audio[after, 0], tone[after])
