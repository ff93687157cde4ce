"""The switch's own recording of a call, read back once its row is closed (shared by the tests
that check a call's file after hold, transcoding and transfers)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import numpy as np
import soundfile as sf
from running_switch import Switch

from softswitch.media.recorder import RECORDINGS_DIR


def closed_recordings(
    switch: Switch, count: int = 1, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """The recording rows once `count` of them are closed (end_ts set), oldest first."""
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(switch.data_dir / "softswitch.db") as db:
                db.row_factory = sqlite3.Row
                rows = [dict(r) for r in db.execute("SELECT * FROM recording ORDER BY start_ts")]
        except sqlite3.OperationalError:  # the table is created at the first start
            rows = []
        if len([r for r in rows if r["end_ts"]]) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{count} closed recording rows not there in {timeout_s} s: {rows}")


def recording_audio(switch: Switch, row: dict[str, Any]) -> tuple[np.ndarray, int]:
    """float64[samples, channels] and the rate of the row's file."""
    audio, rate = sf.read(switch.data_dir / RECORDINGS_DIR / row["path"], always_2d=True)
    return audio, int(rate)
