"""Micro-bench of media/supervision_mix.py: CPU per 20 ms tick to mix N supervised calls
(caller, agent, supervisor each; modes listen, whisper, barge in turn) in the one shared mixer.

    .venv/bin/python tests/media/bench_supervision_mix.py [--calls 10 100 300] [--ticks 500]

The legs are stand-ins with a row and an endpoint, so the figure is the mix's own cost: the
gather, `Mixer.mix`, the scatter. Lives beside the tests (bench/ may not import the switch).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from softswitch.media.endpoint import Route
from softswitch.media.engine import TickFrames
from softswitch.media.mixer import SupervisorMode
from softswitch.media.supervision_mix import SupervisionMix


@dataclass
class _Endpoint:
    closed: bool = False
    route: Route = Route.CONSUMER


@dataclass
class _Leg:
    row: int
    endpoint: _Endpoint
    leaving: bool = False


def tick_cost_ms(calls: int, ticks: int) -> float:
    mix = SupervisionMix()
    modes = list(SupervisorMode)
    for key in range(calls):
        legs = [_Leg(3 * key + i, _Endpoint()) for i in range(3)]
        mix.add(key, *legs, modes[key % 3])  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    heard = rng.integers(-3000, 3000, (3 * calls, 160)).astype(np.int16)
    rows = 3 * calls
    frames = TickFrames(
        0, 0.0, heard, np.zeros_like(heard), np.zeros(rows, bool), np.ones(rows, bool)
    )
    mix.process(frames)  # builds the mixer's layout once
    start = time.process_time()
    for _ in range(ticks):
        mix.process(frames)
    return (time.process_time() - start) / ticks * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--ticks", type=int, default=500)
    args = parser.parse_args()
    for calls in args.calls:
        cost = tick_cost_ms(calls, args.ticks)
        print(
            f"{calls} supervised calls: {cost:.3f} ms CPU per tick"
            f" ({cost / 20 * 100:.1f} % of a core)"
        )


if __name__ == "__main__":
    main()
