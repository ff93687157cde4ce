"""A queue's own music-on-hold class and announcement interval, heard by a pjsua2 caller: the
queue's class (a 700 Hz tone here, not the shipped arpeggios) plays between announcements that
start every `announce_every_s`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio import read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from spectrum import level_db

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

INTERVAL_S = 6.0
MUSIC_HZ = 700.0


@pytest.fixture
def music_switch(tmp_path: Path, carrier_port: int) -> Any:
    moh = tmp_path / "data" / "prompts" / "moh" / "tone700"
    moh.mkdir(parents=True)
    write_tone(moh / "tone.wav", MUSIC_HZ, 5.0)

    def edit(cfg: dict[str, Any]) -> None:
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(
            moh_class="tone700", announce_every_s=INTERVAL_S, join_empty="never", max_wait_s=0
        )

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


def tone_frames(path: Path, frame_s: float = 0.1) -> tuple[np.ndarray, float]:
    """Per frame, whether it is the queue's music (the 700 Hz tone dominates a loud frame)."""
    samples, rate = read_mono(path)
    size = int(rate * frame_s)
    n = samples.size // size
    frames = samples[: n * size].reshape(n, size)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.02
    music = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(loud):
        music[i] = level_db(frames[i], MUSIC_HZ, rate) > -3
    return music, frame_s


def test_a_queue_plays_its_own_music_class_between_announcements_every_interval(
    music_switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller = pjsua("caller")
    caller.register(music_switch.sip_port, "1004", "demo-1004")
    call = caller.call(music_switch.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    heard = tmp_path / "heard.wav"
    caller.send("record", call=call, path=str(heard), seconds=16.0)
    caller.wait_event("recorded", 30.0, call=call)
    caller.send("hangup", call=call)
    music, frame_s = tone_frames(heard)
    assert music.sum() * frame_s > 4.0, "the queue's 700 Hz class was not heard"
    # An announcement starts where the music, after playing a second or more, stops.
    onsets = [
        i * frame_s for i in range(10, music.size) if not music[i] and music[i - 10 : i].all()
    ]
    assert len(onsets) >= 2, onsets
    gaps = np.diff(onsets)
    assert all(abs(g - INTERVAL_S) < 0.6 for g in gaps), onsets
