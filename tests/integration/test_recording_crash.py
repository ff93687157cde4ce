"""A recording process killed with SIGKILL mid-call leaves a WAV that plays up to within a second
of the kill, and the next start of the switch closes its row as cut with the file's duration."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recording_process import CALL_ID, LEFT_HZ, RIGHT_HZ
from running_switch import start_switch
from spectrum import peaks_hz

from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = Path(__file__).with_name("recording_process.py")
KILL_AFTER_TICKS = 180  # 3.6 s of audio: three whole writes, then part of a second
DEADLINE_S = 20.0


def _record_then_kill(data_dir: Path) -> float:
    """Run the recording process, SIGKILL it once it has fed KILL_AFTER_TICKS ticks; returns the
    seconds of audio it had fed (by its last line) when it died."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(data_dir), "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fed = 0
    deadline = time.monotonic() + DEADLINE_S
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            fed = int(line.split()[1])
            if fed >= KILL_AFTER_TICKS or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
        rest, errors = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, errors
    assert fed >= KILL_AFTER_TICKS, f"the recorder fed only {fed} ticks: {errors}"
    lines = [line for line in rest.splitlines() if line.startswith("fed ")]
    return (int(lines[-1].split()[1]) if lines else fed) * 0.02


def test_killed_recording_plays_and_is_closed_as_cut_at_the_next_start(
    tmp_path: Path, carrier_port: int
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fed_s = _record_then_kill(data_dir)

    files = list((data_dir / RECORDINGS_DIR).rglob("*.wav"))
    assert len(files) == 1
    # As the kill left it, before anything repairs it: soundfile opens it and it plays.
    audio, rate = sf.read(files[0], dtype="float64", always_2d=True)
    played_s = audio.shape[0] / rate
    print(f"fed {fed_s:.2f} s before the kill; the file plays {played_s:.2f} s")
    # The header itself counts the audio (libsndfile alone would guess from the file size): a
    # strict reader such as the standard library's sees the same length.
    with wave.open(str(files[0])) as strict:
        assert strict.getnframes() == audio.shape[0]
    assert fed_s - 1.0 <= played_s <= fed_s + 0.02, (played_s, fed_s)
    assert audio.shape[1] == 2
    assert peaks_hz(audio[:, 0], rate)[0] == pytest.approx(LEFT_HZ, abs=5)
    assert peaks_hz(audio[:, 1], rate)[0] == pytest.approx(RIGHT_HZ, abs=5)
    assert float(np.sqrt(np.mean(audio[-800:] ** 2))) > 0.1  # no silent tail: real audio to the end
    on_disk_s = (files[0].stat().st_size - 44) / (2 * 2 * rate)

    switch = start_switch(tmp_path, carrier_port)  # the same data dir: tmp_path/data
    try:
        conn = sqlite3.connect(f"file:{switch.db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        rows = [dict(row) for row in conn.execute("SELECT * FROM recording")]
        conn.close()
    finally:
        assert switch.stop() == 0, switch.log_tail()

    assert len(rows) == 1
    row = rows[0]
    assert row["call_id"] == CALL_ID
    assert row["state"] == "cut"
    assert row["path"] == files[0].relative_to(data_dir / RECORDINGS_DIR).as_posix()
    # Every whole sample frame written before the kill counts, even one the header had not yet.
    assert row["duration_s"] == pytest.approx(on_disk_s, abs=1e-3)
    assert played_s - 1e-6 <= row["duration_s"] <= fed_s + 0.02
    assert row["end_ts"] == pytest.approx(row["start_ts"] + row["duration_s"])
    repaired, _ = sf.read(files[0], dtype="int16", always_2d=True)
    assert repaired.shape[0] / rate == pytest.approx(row["duration_s"], abs=1e-6)
    assert "closed 1 recordings cut" in switch.log_path.read_text()
