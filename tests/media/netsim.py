"""A simulated network between an RTP sender and a jitter buffer, stepped by a fake clock.

Packet k is sent at k * ptime and arrives `delays[k]` seconds later (None: lost); the buffer
is popped every 20 ms from `tick_phase_s` on. Each payload carries its packet index, so a
test can tell exactly what was played, in which order, and when.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from softswitch.media.jitter import Frame, JitterBuffer, Lost

TICK_S = 0.02
_INDEX = struct.Struct("!I")


def payload_for(index: int, size: int = 160) -> bytes:
    return _INDEX.pack(index) + bytes((index * 7) & 0xFF for _ in range(size - 4))


def index_of(payload: bytes) -> int:
    value: int = _INDEX.unpack_from(payload)[0]
    return value


@dataclass
class Played:
    tick: int
    at_s: float
    output: Frame | Lost | None


@dataclass
class Run:
    buffer: JitterBuffer
    played: list[Played] = field(default_factory=list)

    def frames(self) -> list[tuple[int, Frame]]:
        return [(p.tick, p.output) for p in self.played if isinstance(p.output, Frame)]

    def indices(self) -> list[int]:
        return [index_of(frame.payload) for _, frame in self.frames()]

    def lost_ticks(self) -> int:
        return sum(isinstance(p.output, Lost) for p in self.played)


@dataclass(frozen=True)
class Packet:
    index: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    sent_s: float


def stream(
    count: int,
    *,
    first_sequence: int = 1000,
    first_timestamp: int = 50_000,
    ssrc: int = 0x1234,
    ptime_s: float = TICK_S,
    units: int = 160,
    start_s: float = 0.0,
    first_index: int = 0,
    marker_first: bool = True,
) -> list[Packet]:
    return [
        Packet(
            index=first_index + k,
            sequence=(first_sequence + k) & 0xFFFF,
            timestamp=(first_timestamp + k * units) & 0xFFFF_FFFF,
            ssrc=ssrc,
            marker=marker_first and k == 0,
            payload=payload_for(first_index + k, units),
            sent_s=start_s + k * ptime_s,
        )
        for k in range(count)
    ]


def run(
    packets: Sequence[Packet],
    delays: Sequence[float | None],
    *,
    buffer: JitterBuffer | None = None,
    tick_phase_s: float = 0.0137,
    extra_ticks: int = 30,
) -> Run:
    """Deliver `packets` with `delays` and pop the buffer every tick until all is played."""
    jb = buffer if buffer is not None else JitterBuffer()
    arrivals = sorted(
        (packet.sent_s + delay, n, packet)
        for n, (packet, delay) in enumerate(zip(packets, delays, strict=True))
        if delay is not None
    )
    last_arrival = arrivals[-1][0] if arrivals else 0.0
    ticks = int((last_arrival - tick_phase_s) / TICK_S) + 1 + extra_ticks
    result = Run(jb)
    i = 0
    for tick in range(ticks):
        now = tick_phase_s + tick * TICK_S
        while i < len(arrivals) and arrivals[i][0] <= now:
            at, _, packet = arrivals[i]
            jb.push(
                packet.sequence, packet.timestamp, packet.ssrc, packet.marker, packet.payload, at
            )
            i += 1
        result.played.append(Played(tick, now, jb.pop()))
    return result
