"""Micro-bench of the conference's share of a 20 ms tick: CPU time per tick for R rooms of 3.

    .venv/bin/python tests/calls/bench_conference.py [--rooms 100 300 1000] [--ticks 300]

`Conferences.process` as the engine calls it: gather every member's decoded frame from the
tick's rows, mix all rooms in one pass (media/mixer.py), scatter what each hears back. The
legs are stand-ins with a row (no sockets, no SIP): the engine's own per-leg cost (jitter
buffers, decode, encode, send) is measured by its own bench. Lives beside the tests because
bench/ may not import the switch (tests/test_import_rule.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from softswitch.calls.conference import Conferences, _Seat
from softswitch.calls.room import Role
from softswitch.config_conference import ConferenceConfig, RoomConfig
from softswitch.media.engine import TickFrames


@dataclass
class _Row:
    row: int


@dataclass(eq=False)
class _Leg:
    id: int
    ended: bool = False


class _Engine:
    def add_processor(self, processor: object) -> None:
        pass

    def release(self, leg: object) -> None:
        pass


def build(rooms: int) -> tuple[Conferences, TickFrames]:
    config = ConferenceConfig(first=1, last=rooms, width=6, join_tones=False)
    conferences = Conferences(config, cast(Any, _Engine()), max_participants=3 * rooms)
    rng = np.random.default_rng(1)
    for room in range(rooms):
        room_config = RoomConfig(f"{room + 1:06d}")
        for seat in range(3):
            row = 3 * room + seat
            leg = cast(Any, _Leg(row))
            member = conferences.rooms.join(room_config, row, Role.PARTICIPANT)
            conferences._seats[leg] = _Seat(
                leg, cast(Any, None), cast(Any, None), room_config, cast(Any, _Row(row)),
                member=member,
            )  # fmt: skip
    legs = 3 * rooms
    heard = rng.integers(-8000, 8000, (legs, 160)).astype(np.int16)
    frames = TickFrames(
        0,
        0.0,
        heard,
        np.zeros((legs, 160), np.int16),
        np.zeros(legs, np.bool_),
        np.ones(legs, np.bool_),
        [],
    )
    return conferences, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--ticks", type=int, default=300)
    args = parser.parse_args()
    for rooms in args.rooms:
        conferences, frames = build(rooms)
        conferences.process(frames)  # warm-up: the mixer's layout and work arrays
        samples = []
        for _ in range(args.ticks):
            start = time.process_time()
            conferences.process(frames)
            samples.append(time.process_time() - start)
        low, median = min(samples), statistics.median(samples)
        print(
            f"{rooms} rooms of 3 ({3 * rooms} legs): min {low * 1e3:.2f} ms, median"
            f" {median * 1e3:.2f} ms per tick ({median / 0.02 * 100:.1f} % of a core);"
            f" {median / (3 * rooms) * 1e6:.2f} us per leg"
        )


if __name__ == "__main__":
    main()
