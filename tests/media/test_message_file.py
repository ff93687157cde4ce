"""Voicemail message files: mono 8 kHz WAV that plays while it is written (a kill leaves a file
that opens up to the last second), trimmed of the end key, never written over another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from softswitch.media.message_file import MessageFile

FRAME = (np.arange(160) * 50).astype(np.int16)


def test_the_header_counts_each_second_as_it_is_written(tmp_path: Path) -> None:
    file = MessageFile(tmp_path / "1005", "m.wav")
    for _ in range(75):  # 1.5 s: one second written, half a second buffered
        file.append(FRAME)
    with sf.SoundFile(str(file.path)) as probe:  # what a reader (or a crash) sees now
        assert (probe.samplerate, probe.channels, probe.frames) == (8000, 1, 8000)
    assert file.duration_s == 1.5
    assert file.close(trim_s=0.25) == 1.25
    audio, rate = sf.read(str(file.path), dtype="int16")
    assert rate == 8000 and audio.size == 10000
    assert np.array_equal(audio[:160], FRAME)


def test_a_taken_name_gets_a_suffix(tmp_path: Path) -> None:
    first = MessageFile(tmp_path, "m.wav")
    second = MessageFile(tmp_path, "m.wav")
    assert first.path != second.path and second.path.name == "m-1.wav"
    assert first.close() == second.close() == 0.0
