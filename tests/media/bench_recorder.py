"""What recording costs the tick: `feed()` and `flush_due()` for N recordings, per 20 ms tick.

    .venv/bin/python tests/media/bench_recorder.py [--recordings 1000] [--rate 8000] [--seconds 5]

Times are CPU time of this thread (a loaded machine preempts, which wall clock would count).
Every recording is fed every tick, as the engine will; the signal is speech-like on both sides
(a 1 kHz tone, which webrtcvad calls speech: the worst case) or, with --silence, line noise
under the VAD gate. Prints per-tick CPU percentiles and the cost of starting and stopping.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from softswitch.call_record import ChannelLayout
from softswitch.media.recorder import Recorder


def percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1e3
    return (
        f"median {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--silence", action="store_true")
    args = parser.parse_args()
    count, rate = args.recordings, args.rate
    with tempfile.TemporaryDirectory() as folder:
        recorder = Recorder(Path(folder), rate)
        began = time.thread_time()
        calls = [
            recorder.start(
                call_id=f"{i}@bench",
                caller="1001",
                callee=f"{i}",
                layout=ChannelLayout.STEREO,
                start_ts=time.time(),
            )
            for i in range(count)
        ]
        started_s = time.thread_time() - began
        samples = recorder.frame_samples
        ticks = round(args.seconds / 0.02)
        t = np.arange(ticks * samples) / rate
        if args.silence:
            signal = np.random.default_rng(0).normal(0, 10, t.size)
        else:
            signal = 8000 * np.sin(2 * np.pi * 1000 * t)
        pcm = np.rint(signal).astype(np.int16).reshape(ticks, samples)
        slots = np.array([c.slot for c in calls], dtype=np.intp)
        feed_s: list[float] = []
        flush_s: list[float] = []
        for tick in range(ticks):
            # A real array, as the engine's gather makes (a broadcast view is slower to copy).
            frames = np.ascontiguousarray(np.broadcast_to(pcm[tick][:, None], (count, samples, 2)))
            a = time.thread_time()
            recorder.feed(slots, frames)
            b = time.thread_time()
            recorder.flush_due()
            c = time.thread_time()
            feed_s.append(b - a)
            flush_s.append(c - b)
        began = time.thread_time()
        recorder.stop_all()
        stopped_s = time.thread_time() - began
    total = [f + g for f, g in zip(feed_s, flush_s, strict=True)]
    kind = "line noise" if args.silence else "talk on both sides"
    print(f"{count} stereo recordings at {rate} Hz, {kind}, {ticks} ticks")
    print(f"  feed():      {percentiles(feed_s)}")
    print(f"  flush_due(): {percentiles(flush_s)}")
    print(f"  per tick:    {percentiles(total)}  ({np.mean(total) / 0.02:.1%} of a core)")
    print(f"  start: {started_s / count * 1e6:.0f} us each; stop: {stopped_s / count * 1e6:.0f} us")


if __name__ == "__main__":
    main()
