"""Micro-bench of the media cores a 20 ms tick runs: CPU time per tick, no sockets.

    .venv/bin/python tests/media/bench_cores.py [--ticks 500] [--rooms 300]

It lives beside the cores' tests, not in bench/: the bench package drives the installed
`softswitch` command and may not import the switch's modules (tests/test_import_rule.py).

Reports min and median per tick (the minimum is the cost; the median shows the machine's
noise) for: mixing R rooms of 3 (fast pass and the room-by-room oracle, to show why the fast
one exists), with supervisor rooms, the jitter buffers of every participant (one packet in
and one frame out each per tick), in-band DTMF detection on every leg, and the RFC 4733
receiver and tick clock per call.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
from collections.abc import Callable

import numpy as np

from softswitch.media.dtmf import TelephoneEventReceiver
from softswitch.media.dtmf_inband import InbandDtmfDetector
from softswitch.media.jitter import JitterBuffer
from softswitch.media.mixer import Mixer, SupervisorMode
from softswitch.media.tick import TickClock
from softswitch_codecs.telephone_event import TelephoneEvent


def timed(run: Callable[[int], object], ticks: int) -> tuple[float, float]:
    """(min, median) seconds of `run(tick)` over `ticks` calls, after one warm-up."""
    run(0)
    samples = []
    for tick in range(1, ticks + 1):
        start = time.perf_counter()
        run(tick)
        samples.append(time.perf_counter() - start)
    return min(samples), statistics.median(samples)


def bench(ticks: int, rooms: int) -> list[tuple[str, float, float, int]]:
    rng = np.random.default_rng(0)
    results: list[tuple[str, float, float, int]] = []

    mixer = Mixer()
    for room in range(rooms):
        for _ in range(3):
            mixer.join(room)
    participants = mixer.rows
    frames = rng.integers(-12000, 12000, size=(participants, 160), dtype=np.int16)
    results.append(("mix, fast", *timed(lambda _: mixer.mix(frames), ticks), participants))
    results.append(
        ("mix, room-by-room oracle", *timed(lambda _: mixer.mix_simple(frames), 5), participants)
    )
    for room in range(0, rooms, 3):
        _customer, agent, supervisor = mixer.members(room)
        mixer.supervise(supervisor, agent, SupervisorMode.WHISPER)
    results.append(
        ("mix, a third whispering", *timed(lambda _: mixer.mix(frames), ticks), participants)
    )

    buffers = [JitterBuffer() for _ in range(participants)]
    payload = bytes(160)

    def jitter_tick(tick: int) -> None:
        now = tick * 0.02
        for n, jb in enumerate(buffers):
            jb.push(tick & 0xFFFF, tick * 160, n, False, payload, now + 0.003)
        for jb in buffers:
            jb.pop()

    results.append(("jitter buffers, push + pop", *timed(jitter_tick, ticks), participants))

    detector = InbandDtmfDetector()
    for _ in range(participants):
        detector.add()
    speechy = (rng.standard_normal((participants, 160)) * 3000).astype(np.int16)
    results.append(
        (
            "in-band DTMF",
            *timed(lambda tick: detector.process(speechy, tick * 0.02), ticks),
            participants,
        )
    )

    receiver = TelephoneEventReceiver()
    packets = [TelephoneEvent(5, False, 10, 160 * k).serialize() for k in range(ticks + 1)]
    results.append(
        (
            "RFC 4733 receive, per packet",
            *timed(lambda tick: receiver.receive(packets[tick], 1000, tick * 0.02), ticks),
            1,
        )
    )
    clock = TickClock(0.0)
    results.append(
        ("tick clock on_time", *timed(lambda tick: clock.on_time(tick * 0.02), ticks), 1)
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=300)
    args = parser.parse_args()
    print(f"{'core':34} {'legs':>5} {'min ms':>9} {'median ms':>10} {'µs/leg':>8}")
    for name, best, median, legs in bench(args.ticks, args.rooms):
        print(
            f"{name:34} {legs:5d} {best * 1e3:9.3f} {median * 1e3:10.3f} {best * 1e6 / legs:8.2f}"
        )
    print(struct.calcsize("P") * 8, "bit,", "numpy", np.__version__)


if __name__ == "__main__":
    main()
