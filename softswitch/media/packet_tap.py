"""Recorded relayed calls: each side's RTP packets tapped off the pass-through relay and put on
the recording's timeline a few ticks later, every side at once.

Why: a recorded call between two legs of one G.711 codec needs nobody to hear its audio in the
tick, so running it through the engine (jitter buffer, decode, encode and `send_frame` per leg
per tick) tripled its cost per packet against the relay (bench/RESULTS.md). The relay instead
appends `(datagram, transit)` to the side's list (one append per packet, media/endpoint.py's
`tap_packets`); here, every few ticks, those packets are decoded with one table lookup over all
their payloads and written by position into one ring of samples per side.

Where a packet goes: a side's first packet of an SSRC is placed where it arrived (its arrival
time is `transit + timestamp` in 8 kHz units, from the relay's jitter figure); every later one
by its RTP timestamp from there (the 32-bit wrap unwrapped by the signed difference to the
previous packet), so reordering and loss are handled by position and gaps are silence. A new
SSRC, or a timestamp more than `REANCHOR_SAMPLES` away from the packet's arrival (a sender that
restarted its clock), is placed where it arrived again. Both sides share the process's sample
clock (`time.monotonic() * 8000`), so they stay aligned by wall clock.

A side's samples below its `floor` are final (handed to the recorder, zeroed in the ring): a
packet landing there came later than the hold-back allowed and is dropped, as is one landing a
ring or more ahead. Only PCMU (payload type 0) and PCMA (8) are decoded; other payload types
(RFC 4733 events, comfort noise) are silence.

Sans-IO: positions come in as numbers, no clock is read here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from softswitch_codecs.g711 import ALAW_DECODE, ULAW_DECODE

TICK_SAMPLES: Final = 160  # 20 ms at 8 kHz
RING_TICKS: Final = 128  # 2.56 s of samples per side: hold-back and early packets fit
RING_SAMPLES: Final = RING_TICKS * TICK_SAMPLES
REANCHOR_SAMPLES: Final = 2400  # 300 ms between timestamp and arrival: the sender restarted
DEFAULT_CAPACITY: Final = 64  # sides to start with; the ring doubles when all are taken
# Payload type -> offset in _DECODE (RFC 3551 §6: static types of PCMU and PCMA).
_LAW_OF_PT: Final = {0: 0, 8: 256}
_DECODE: Final = np.concatenate([ULAW_DECODE, ALAW_DECODE]).astype(np.int16)
_TIMESTAMP_SSRC = struct.Struct("!II")
_EXTENSION_WORDS = struct.Struct("!H")

Tapped = list[tuple[bytes, float]]
"""What the relay appends per packet: (datagram, transit = arrival * 8000 - RTP timestamp)."""


class TapSide:
    """One side of a recorded call: the list the relay fills, and where its stream is placed."""

    __slots__ = ("last_timestamp", "packets", "position", "row", "ssrc")

    def __init__(self, row: int) -> None:
        self.row = row  # its row of the ring
        self.packets: Tapped = []
        self.ssrc = -1  # never a 32-bit SSRC: the first packet anchors the stream
        self.last_timestamp = 0
        self.position = 0  # sample (8 kHz, process clock) of the last packet's timestamp


def _payload_bounds(data: bytes, first: int) -> tuple[int, int] | None:
    """(start, end) of an RTP packet's payload past CSRCs, extension and padding (RFC 3550
    §5.1, §5.3.1); None when the header claims more than the packet holds."""
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < start + 4:
            return None
        (words,) = _EXTENSION_WORDS.unpack_from(data, start + 2)
        start += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    return (start, end) if start < end else None


class PacketTimeline:
    """The ring of samples of every tapped side: `place` writes packets in, `take` reads ticks
    out and clears them. `int16[sides, RING_TICKS, TICK_SAMPLES]`, tick t in column t % RING."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._ring: NDArray[np.int16] = np.zeros(
            (capacity, RING_TICKS, TICK_SAMPLES), dtype=np.int16
        )
        self._free = list(range(capacity - 1, -1, -1))
        self.placed = 0  # packets written into the ring
        self.dropped = 0  # tapped packets that were too late, too early or not G.711

    def add_side(self) -> TapSide:
        if not self._free:
            old = self._ring.shape[0]
            bigger = np.zeros((old * 2, *self._ring.shape[1:]), dtype=np.int16)
            bigger[:old] = self._ring
            self._ring = bigger
            self._free.extend(range(old * 2 - 1, old - 1, -1))
        return TapSide(self._free.pop())

    def remove_side(self, side: TapSide) -> None:
        self._ring[side.row] = 0
        side.packets.clear()
        self._free.append(side.row)

    def place(self, sides: Sequence[TapSide], floors: Sequence[int]) -> None:
        """Decode the packets tapped on `sides` into the ring; `floors[i]` is the first sample
        of side i not yet final. The sides' lists are emptied."""
        payloads: list[bytes] = []
        starts: list[int] = []
        rows: list[int] = []
        laws: list[int] = []
        dropped = 0
        for side, floor in zip(sides, floors, strict=True):
            packets = side.packets
            if not packets:
                continue
            ceiling = floor + RING_SAMPLES
            row = side.row
            for data, transit in packets:
                if len(data) < 12:  # no RTP header (the relay taps none such)
                    dropped += 1
                    continue
                first = data[0]
                law = _LAW_OF_PT.get(data[1] & 0x7F)
                if law is None or first >> 6 != 2:
                    dropped += 1
                    continue
                timestamp, ssrc = _TIMESTAMP_SSRC.unpack_from(data, 4)
                if first == 0x80:
                    start, end = 12, len(data)
                else:
                    bounds = _payload_bounds(data, first)
                    if bounds is None:
                        dropped += 1
                        continue
                    start, end = bounds
                arrival = int(transit + timestamp)
                if ssrc != side.ssrc:
                    side.ssrc = ssrc
                    position = arrival
                else:
                    step = ((timestamp - side.last_timestamp + 0x8000_0000) & 0xFFFF_FFFF) - (
                        0x8000_0000
                    )
                    position = side.position + step
                    if abs(position - arrival) > REANCHOR_SAMPLES:
                        position = arrival
                side.last_timestamp = timestamp
                side.position = position
                if position < floor or position + end - start > ceiling:
                    dropped += 1
                    continue
                payloads.append(data[start:end] if start or end != len(data) else data)
                starts.append(position)
                rows.append(row)
                laws.append(law)
            packets.clear()
        self.dropped += dropped
        if not payloads:
            return
        self.placed += len(payloads)
        lengths = np.fromiter(map(len, payloads), dtype=np.intp, count=len(payloads))
        codes = np.frombuffer(b"".join(payloads), dtype=np.uint8).astype(np.intp)
        if any(laws):
            codes += np.repeat(np.array(laws, dtype=np.intp), lengths)
        # Each byte's sample: its packet's position plus its index in the packet.
        firsts = np.cumsum(lengths) - lengths
        positions = np.repeat(np.array(starts, dtype=np.int64) - firsts, lengths)
        positions += np.arange(codes.size, dtype=np.int64)
        flat = np.repeat(np.array(rows, dtype=np.int64) * RING_SAMPLES, lengths)
        flat += positions % RING_SAMPLES
        self._ring.reshape(-1)[flat] = _DECODE[codes]

    def take(self, left: Sequence[int], right: Sequence[int], tick: int) -> NDArray[np.int16]:
        """Tick `tick` of the rows `left[i]` and `right[i]` as `int16[len, TICK_SAMPLES, 2]`
        WAV frames (the recorder's layout); those samples are cleared for the ring's next turn."""
        column = tick % RING_TICKS
        ring = self._ring
        frames = np.empty((len(left), TICK_SAMPLES, 2), dtype=np.int16)
        frames[:, :, 0] = ring[left, column]
        frames[:, :, 1] = ring[right, column]
        ring[left, column] = 0
        ring[right, column] = 0
        return frames
