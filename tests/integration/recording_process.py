"""A process that records one call in real time until it is killed, as the switch would.

`python recording_process.py DATA_DIR MAX_S`: opens the store in DATA_DIR, opens a recording row
and a stereo recording (caller 440 Hz left, callee 1000 Hz right), then every 20 ms tick feeds
the recorder and writes what is due, printing `fed <ticks>` after each tick (flushed), for at
most MAX_S seconds. The test kills it with SIGKILL somewhere in between.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

from softswitch.call_record import ChannelLayout
from softswitch.media.recorder import RECORDINGS_DIR, Recorder
from softswitch.store import recordings
from softswitch.store.database import Database

CALL_ID = "killed-call@127.0.0.1"
LEFT_HZ, RIGHT_HZ = 440.0, 1000.0
RATE = 8000
TICK_S = 0.02


async def main(data_dir: Path, max_s: float) -> None:
    db = await Database.open(data_dir)
    recorder = Recorder(data_dir / RECORDINGS_DIR, RATE)
    start = time.time()
    recording = recorder.start(
        call_id=CALL_ID, caller="1001", callee="1002", layout=ChannelLayout.STEREO, start_ts=start
    )
    await recordings.open_recording(
        db,
        call_id=CALL_ID,
        path=recording.path,
        caller="1001",
        callee="1002",
        layout=ChannelLayout.STEREO,
        sample_rate=RATE,
        start_ts=start,
    )
    await db.flush()
    samples = recorder.frame_samples
    slots = np.array([recording.slot], dtype=np.intp)
    loop = asyncio.get_running_loop()
    origin = loop.time()
    for tick in range(round(max_s / TICK_S)):
        n = np.arange(tick * samples, (tick + 1) * samples) / RATE
        frame = np.stack(
            [np.sin(2 * np.pi * LEFT_HZ * n), np.sin(2 * np.pi * RIGHT_HZ * n)], axis=-1
        )
        recorder.feed(slots, np.rint(8000 * frame).astype(np.int16)[None])
        recorder.flush_due()
        print(f"fed {tick + 1}", flush=True)
        await asyncio.sleep(max(0.0, origin + (tick + 1) * TICK_S - loop.time()))
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2])))
