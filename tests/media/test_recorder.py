"""The recorder as the tick engine drives it: what lands in the WAV files, their headers while
they are written, pauses, voice-activity figures, safe names and recovery after a crash."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from spectrum import level_db, peaks_hz, rms
from test_vad import oracle, prompt_speech

from softswitch.call_record import ChannelLayout
from softswitch.media.recorder import (
    Recorder,
    Recording,
    RecordingSummary,
    recording_path,
    recover,
    wav_data_chunk,
)
from softswitch.media.vad import SpeechDetector

START_TS = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC


def tone(freq_hz: float, rate: int, seconds: float, amplitude: float = 8000.0) -> NDArray[np.int16]:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def start(recorder: Recorder, name: str, layout: ChannelLayout = ChannelLayout.STEREO) -> Recording:
    return recorder.start(
        call_id=f"{name}@127.0.0.1", caller="1001", callee=name, layout=layout, start_ts=START_TS
    )


def run(
    recorder: Recorder,
    sides: dict[Recording, tuple[NDArray[np.int16], NDArray[np.int16]]],
    first_tick: int = 0,
) -> None:
    """Feed every recording its (left, right) signals tick by tick from `first_tick`, as the
    engine would: one feed of all of them per tick, then the due writes."""
    n = recorder.frame_samples
    ticks = min(left.size for left, _ in sides.values()) // n
    slots = np.array([rec.slot for rec in sides], dtype=np.intp)
    for tick in range(first_tick, ticks):
        part = slice(tick * n, (tick + 1) * n)
        frames = np.stack([np.stack([a[part], b[part]], axis=-1) for a, b in sides.values()])
        recorder.feed(slots, frames)
        recorder.flush_due()


def read(recorder: Recorder, summary: RecordingSummary) -> tuple[NDArray[np.float64], int]:
    audio, rate = sf.read(recorder.root / summary.path, dtype="float64", always_2d=True)
    return audio, int(rate)


@pytest.mark.parametrize(("rate", "right_hz"), [(8000, 1000.0), (16000, 6000.0)])
def test_two_tone_call(tmp_path: Path, rate: int, right_hz: float) -> None:
    recorder = Recorder(tmp_path, rate)
    call = start(recorder, "1002")
    run(recorder, {call: (tone(440, rate, 3.0), tone(right_hz, rate, 3.0))})
    summary = recorder.stop(call)

    audio, file_rate = read(recorder, summary)
    assert file_rate == rate and audio.shape[1] == 2
    assert abs(audio.shape[0] / rate - 3.0) <= 0.2
    assert summary.duration_s == pytest.approx(3.0)
    left, right = audio[:, 0], audio[:, 1]
    assert peaks_hz(left, rate)[0] == pytest.approx(440, abs=3)
    assert peaks_hz(right, rate)[0] == pytest.approx(right_hz, abs=3)  # 6 kHz: wideband kept
    assert level_db(left, right_hz, rate) < -40 and level_db(right, 440, rate) < -40
    assert summary.layout is ChannelLayout.STEREO and summary.sample_rate == rate
    assert summary.talk.left_talk_s == summary.talk.right_talk_s == 3.0
    assert not summary.cut and summary.pauses == ()


def test_many_recordings_in_one_feed_each_get_their_own_audio(tmp_path: Path) -> None:
    # Capacity 2: the buffer grows twice; one recording stops and its slot is reused.
    recorder = Recorder(tmp_path, 8000, capacity=2)
    freqs = [(300.0 + 100 * i, 1500.0 + 200 * i) for i in range(6)]
    signals = [(tone(lf, 8000, 4.0), tone(rf, 8000, 4.0)) for lf, rf in freqs]
    calls = [start(recorder, f"20{i:02d}") for i in range(5)]
    run(recorder, dict(zip(calls, signals, strict=False)), first_tick=0)  # 4 s, all five
    early = recorder.stop(calls[1])
    late = start(recorder, "2099")
    assert late.slot == calls[1].slot
    sides = {calls[0]: signals[0], late: signals[5]}
    # Two more seconds for calls[0] and the late one.
    run(recorder, {r: (np.tile(a, 2), np.tile(b, 2)) for r, (a, b) in sides.items()}, 200)
    summaries = {s.callee: s for s in recorder.stop_all()} | {early.callee: early}

    expected_s = {"2000": 8.0, "2001": 4.0, "2002": 4.0, "2003": 4.0, "2004": 4.0, "2099": 4.0}
    for callee, seconds in expected_s.items():
        summary = summaries[callee]
        audio, rate = read(recorder, summary)
        assert audio.shape[0] == round(seconds * rate), callee
        left_hz, right_hz = freqs[5] if callee == "2099" else freqs[int(callee[2:])]
        assert peaks_hz(audio[:, 0], rate)[0] == pytest.approx(left_hz, abs=3), callee
        assert peaks_hz(audio[:, 1], rate)[0] == pytest.approx(right_hz, abs=3), callee
    assert recorder.recordings == []


def test_recordings_write_in_staggered_ticks(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, 8000, chunk_ticks=50)
    calls = [start(recorder, f"30{i:02d}") for i in range(100)]
    slots = np.array([c.slot for c in calls], dtype=np.intp)
    frames = np.ones((100, 160, 2), dtype=np.int16)
    written = []
    for _ in range(150):
        recorder.feed(slots, frames)
        written.append(recorder.flush_due())
    # 100 recordings started together: two writes per tick, never a burst of 100.
    assert max(written) == 2 and sum(written[50:]) == 200
    recorder.stop_all()


def test_writes_due_go_in_batches_a_lagging_feed_writes_sooner_and_never_overruns(
    tmp_path: Path,
) -> None:
    """The packet tap's use (media/call_recording.py): recordings fed `lag_ticks` behind are
    written that much sooner; `flush_due(limit)` leaves the rest due; a feed finding a second
    still unwritten writes it first instead of running into the next slot's buffer."""
    recorder = Recorder(tmp_path, 8000, chunk_ticks=50)

    def lagging(name: str, lag_ticks: int) -> Recording:
        return recorder.start(
            call_id=f"{name}@x",
            caller="a",
            callee=name,
            layout=ChannelLayout.STEREO,
            start_ts=START_TS,
            lag_ticks=lag_ticks,
        )

    calls = [lagging(f"b{i}", 10) for i in range(40)]
    with pytest.raises(ValueError, match="lag_ticks"):
        lagging("c", 50)
    slots = np.array([c.slot for c in calls], dtype=np.intp)
    for tick in range(80):  # no writes: every second stays due, fed on past it
        frames = np.full((40, 160, 2), tick % 100, dtype=np.int16)
        recorder.feed(slots, frames)
    assert recorder.due_count > 0
    assert recorder.flush_due(3) == 3 and recorder.flush_due() > 0 and recorder.due_count == 0
    # Due at its staggered tick (at most 40 = 50 - 10), each second was written by the feed
    # that found it full: every tick is in its file once, none in another's.
    for index, call in enumerate(calls):
        summary = recorder.stop(call)
        audio, _ = sf.read(tmp_path / summary.path, dtype="int16", always_2d=True)
        assert audio.shape[0] == 80 * 160, index
        assert np.array_equal(audio[::160, 0], np.arange(80) % 100), index


def test_pause_writes_silence_and_marks_the_intervals(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, 8000)
    call = start(recorder, "1002")
    left, right = tone(440, 8000, 3.0), tone(1000, 8000, 3.0)
    n = recorder.frame_samples
    slots = np.array([call.slot], dtype=np.intp)
    for tick in range(150):
        if tick == 50:
            recorder.pause(call)
            recorder.pause(call)  # twice: still one pause
        if tick == 100:
            recorder.resume(call)
        if tick == 125:
            recorder.pause(call)  # left open: the stop ends it
        if tick == 140:
            assert [(m.start_s, m.end_s) for m in recorder.pause_marks(call)] == [
                (1.0, 2.0),
                (2.5, 2.8),
            ]
        part = slice(tick * n, (tick + 1) * n)
        recorder.feed(slots, np.stack([left[part], right[part]], axis=-1)[None])
        recorder.flush_due()
    summary = recorder.stop(call)

    audio, rate = read(recorder, summary)
    assert audio.shape[0] == 3 * rate  # the timeline stays true: paused time is in the file
    assert [(m.start_s, m.end_s) for m in summary.pauses] == [(1.0, 2.0), (2.5, 3.0)]
    assert not audio[rate : 2 * rate].any() and not audio[int(2.5 * rate) :].any()
    assert rms(audio[:rate, 0]) > 0.1 and rms(audio[2 * rate : int(2.5 * rate), 1]) > 0.1
    assert summary.talk.paused_s == 1.5
    assert summary.talk.left_talk_s == summary.talk.right_talk_s == 1.5  # paused: not analysed
    assert summary.talk.longest_silence_s == 0.0


def test_conference_mix_is_one_channel(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, 8000)
    room = start(recorder, "8000", ChannelLayout.MIX)
    mix = prompt_speech(5)[: 2 * 8000]
    run(recorder, {room: (mix, np.zeros_like(mix))})  # channel 1 is ignored for a mix
    summary = recorder.stop(room)
    audio, rate = read(recorder, summary)
    assert audio.shape == (2 * rate, 1)
    assert np.array_equal(np.rint(audio[:, 0] * 32768).astype(np.int16), mix)
    assert summary.layout is ChannelLayout.MIX
    assert summary.talk.right_talk_s is None and summary.talk.overtalk_s is None
    assert summary.talk.left_talk_s > 1.8  # espeak-ng digits: nearly all voiced


def test_the_header_counts_the_audio_while_recording(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, 8000)
    call = start(recorder, "1002")
    run(recorder, {call: (tone(440, 8000, 2.5), tone(1000, 8000, 2.5))})
    path = tmp_path / call.path
    # The first write came after one tick, then one a second: 2.02 s are in the file, and its
    # header says so to any reader (the half second since is in the buffer).
    with wave.open(str(path)) as strict:
        assert strict.getnframes() == round(2.02 * 8000) and strict.getnchannels() == 2
    assert sf.info(str(path)).frames == round(2.02 * 8000)
    if shutil.which("sox"):
        out = subprocess.run(["sox", "--i", "-s", str(path)], capture_output=True, text=True)
        assert out.stdout.strip() == str(round(2.02 * 8000)), out.stderr
    recorder.stop(call)
    with wave.open(str(path)) as strict:
        assert strict.getnframes() == round(2.5 * 8000)


def test_voice_activity_figures_on_a_talk_and_silence_pattern(tmp_path: Path) -> None:
    rate = 8000
    speech = prompt_speech(40)
    noise = np.random.default_rng(7).normal(0, 10, 10 * rate).astype(np.int16)  # -70 dBFS

    def side(*spans: tuple[float, float]) -> NDArray[np.int16]:
        out = noise.copy()
        for start_s, end_s in spans:
            a, b = int(start_s * rate), int(end_s * rate)
            out[a:b] = speech[a:b]
        return out

    # Caller 0-3 s and 8-9 s; callee 2-5 s and 9-10 s; nobody 5-8 s.
    left, right = side((0, 3), (8, 9)), side((2, 5), (9, 10))
    recorder = Recorder(tmp_path, rate)
    call = start(recorder, "1002")
    run(recorder, {call: (left, right)})
    talk = recorder.stop(call).talk

    # Exactly what webrtcvad says of each side, heard from the start by a detector of its own.
    decided = [SpeechDetector(rate).speech(x.reshape(-1, 160)) for x in (left, right)]
    assert talk == oracle(*(d.tolist() for d in decided), paused=[False] * decided[0].size)
    # And near the pattern: the detector takes a few frames at some onsets, and espeak-ng leaves
    # a frame of near-silence between prompts.
    assert talk.left_talk_s == pytest.approx(4.0, abs=0.5)
    assert talk.right_talk_s == pytest.approx(4.0, abs=0.5)
    assert talk.overtalk_s == pytest.approx(1.0, abs=0.3)
    assert 3.0 <= talk.silence_s <= 3.5
    assert talk.longest_silence_s == pytest.approx(3.0, abs=0.1)
    assert talk.paused_s == 0.0


def test_recover_counts_audio_the_header_had_not(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, np.zeros((8000, 2), dtype=np.int16), 8000, subtype="PCM_16")
    with open(path, "ab") as raw:  # written by a flush whose header update the kill prevented
        raw.write(np.ones((4000, 2), dtype=np.int16).tobytes() + b"\x01")  # and half a frame
    assert sf.info(str(path)).frames == 8000
    assert recover(path) == 1.5
    with wave.open(str(path)) as strict:
        assert strict.getnframes() == 12000
    assert recover(path) == 1.5  # nothing left to repair


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_any_header_bytes_parse_or_raise_value_error(data: bytes) -> None:
    try:
        size_offset, data_offset = wav_data_chunk(data)
    except ValueError:
        return
    assert 12 < size_offset < data_offset <= len(data) + 8


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"RIFF\x00\x00\x00\x00WAVE"]))
def test_recover_never_raises_on_any_file(tail: bytes, head: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.wav"
        path.write_bytes(head + tail)
        duration = recover(path)
        assert duration is None or duration >= 0


def test_recover_without_a_playable_file(tmp_path: Path) -> None:
    assert recover(tmp_path / "missing.wav") is None
    (tmp_path / "text.wav").write_text("not audio at all")
    assert recover(tmp_path / "text.wav") is None
    (tmp_path / "empty.wav").write_bytes(b"")
    assert recover(tmp_path / "empty.wav") is None


@settings(max_examples=200)
@given(st.text(), st.text(), st.text(), st.floats(0, 4_000_000_000))
def test_recording_names_are_safe(caller: str, callee: str, call_id: str, start_ts: float) -> None:
    path = recording_path(start_ts, caller, callee, call_id)
    year, month, day, name = path.parts
    assert year.isdigit() and month.isdigit() and day.isdigit()
    assert name.endswith(".wav") and not name.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "+_-.") for c in name)
    assert len(name) <= 120


def test_recording_names(tmp_path: Path) -> None:
    path = recording_path(START_TS, "+4930 123/../x", "1002", "abc@host")
    assert path.as_posix().startswith("2026/11/30/20261130-005320_+4930_123____x_1002_")
    recorder = Recorder(tmp_path, 8000)
    # Same second, same parties, same call: the second file never replaces the first.
    first, second = start(recorder, "1002"), start(recorder, "1002")
    assert first.path != second.path and second.path.endswith("-1.wav")
    recorder.stop_all()


def test_misuse_is_refused(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, 8000)
    call = start(recorder, "1002")
    with pytest.raises(ValueError, match="int16"):
        recorder.feed(np.array([call.slot]), np.zeros((1, 2, 160), dtype=np.int16))
    with pytest.raises(ValueError, match="no recording"):
        recorder.feed(np.array([call.slot + 1]), np.zeros((1, 160, 2), dtype=np.int16))
    recorder.stop(call)
    with pytest.raises(ValueError, match="not running"):
        recorder.stop(call)
    with pytest.raises(ValueError):
        Recorder(tmp_path, 44100)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_disk_cuts_that_recording_and_spares_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(tmp_path, 8000)
    doomed, fine = start(recorder, "1002"), start(recorder, "1003")
    signals = (tone(440, 8000, 1.0), tone(1000, 8000, 1.0))
    run(recorder, {doomed: signals, fine: signals})
    # From now on every write to the doomed file fails as on a full disk (ENOSPC).
    doomed._raw = io.FileIO("/dev/full", "w")
    run(recorder, {doomed: signals, fine: signals})
    cut, kept = recorder.stop(doomed), recorder.stop(fine)

    assert cut.cut and not kept.cut
    assert cut.duration_s == pytest.approx(0.02)  # the first write, before the disk filled
    assert kept.duration_s == 2.0 and read(recorder, kept)[0].shape[0] == 16000
    assert "cut" in caplog.text and "No space left" in caplog.text
