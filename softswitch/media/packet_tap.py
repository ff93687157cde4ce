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
from itertools import chain
from typing import Final

import numpy as np
from numpy.typing import NDArray

from softswitch_codecs.g711 import ALAW_DECODE, ULAW_DECODE

TICK_SAMPLES: Final = 160  # 20 ms at 8 kHz
RING_TICKS: Final = 128  # 2.56 s of samples per side: hold-back and early packets fit
RING_SAMPLES: Final = RING_TICKS * TICK_SAMPLES
REANCHOR_SAMPLES: Final = 2400  # 300 ms between timestamp and arrival: the sender restarted
DEFAULT_CAPACITY: Final = 64  # sides to start with; the ring doubles when all are taken
# µ-law codes at 0-255, A-law at 256-511 (RFC 3551 §6: static payload types 0 and 8).
_DECODE: Final = np.concatenate([ULAW_DECODE, ALAW_DECODE]).astype(np.int16)
_HEADER_BYTES: Final = np.arange(12)
_BIG_ENDIAN: Final = np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)
# Rounds of re-anchoring, one stray per stream per round; past them (a stream whose every
# packet strays) the batch is placed one packet at a time.
_MAX_REANCHOR_ROUNDS: Final = 4
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


def _one_by_one(
    sides: Sequence[TapSide],
    side_of: NDArray[np.int64],
    timestamps: NDArray[np.int64],
    ssrcs: NDArray[np.int64],
    arrivals: NDArray[np.int64],
) -> NDArray[np.int64]:
    """`PacketTimeline._positions`' rule, one packet after the other (the sides' state is
    read, not changed)."""
    state: dict[int, tuple[int, int, int]] = {}
    positions = []
    for index, timestamp, ssrc, arrival in zip(
        side_of.tolist(), timestamps.tolist(), ssrcs.tolist(), arrivals.tolist(), strict=True
    ):
        side = sides[index]
        last_ssrc, last_ts, last_position = state.get(
            index, (side.ssrc, side.last_timestamp, side.position)
        )
        position = arrival
        if ssrc == last_ssrc:
            step = ((timestamp - last_ts + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
            if abs(last_position + step - arrival) <= REANCHOR_SAMPLES:
                position = last_position + step
        state[index] = (ssrc, timestamp, position)
        positions.append(position)
    return np.array(positions, dtype=np.int64)


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
        of side i not yet final. The sides' lists are emptied.

        Every packet of every side in one set of array operations: the per-packet Python work
        is gathering the lists (the relay path's budget is a few microseconds a packet)."""
        counts = [len(side.packets) for side in sides]
        total = sum(counts)
        if not total:
            return
        tapped = list(chain.from_iterable(side.packets for side in sides))
        for side in sides:
            side.packets.clear()
        datas, transits = zip(*tapped, strict=True)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=total)
        blob = np.frombuffer(b"".join(datas), dtype=np.uint8)
        offsets = np.cumsum(lengths) - lengths
        ok = lengths >= 12
        if not ok.any():
            self.dropped += total
            return
        header = blob[np.minimum(offsets[:, None] + _HEADER_BYTES, blob.size - 1)].astype(np.int64)
        first, payload_type = header[:, 0], header[:, 1] & 0x7F
        ok &= (first >> 6 == 2) & ((payload_type == 0) | (payload_type == 8))
        starts = np.full(total, 12, dtype=np.int64)
        ends = lengths.copy()
        for index in np.flatnonzero(ok & (first != 0x80)).tolist():  # CSRC, extension, padding
            bounds = _payload_bounds(datas[index], int(first[index]))
            if bounds is None:
                ok[index] = False
            else:
                starts[index], ends[index] = bounds
        valid = np.flatnonzero(ok)
        self.dropped += total - valid.size
        if not valid.size:
            return
        header = header[valid]
        timestamp = header[:, 4:8] @ _BIG_ENDIAN
        ssrc = header[:, 8:12] @ _BIG_ENDIAN
        side_of = np.repeat(np.arange(len(sides)), counts)[valid]
        arrival = (np.array(transits, dtype=np.float64)[valid] + timestamp).astype(np.int64)
        position = self._positions(sides, side_of, timestamp, ssrc, arrival)
        floor = np.asarray(floors, dtype=np.int64)[side_of]
        starts, ends = starts[valid], ends[valid]
        sizes = ends - starts
        keep = (position >= floor) & (position + sizes <= floor + RING_SAMPLES)
        self.dropped += valid.size - int(keep.sum())
        if not keep.any():
            return
        self.placed += int(keep.sum())
        sizes = sizes[keep]
        # Each payload byte: where it is in the blob, its law, and its sample in the ring.
        before = np.cumsum(sizes) - sizes
        byte = np.arange(int(sizes.sum()), dtype=np.int64)
        source = np.repeat((offsets[valid] + starts)[keep] - before, sizes) + byte
        law = np.where(payload_type[valid][keep] == 8, 256, 0)
        codes = blob[source].astype(np.intp) + np.repeat(law, sizes)
        sample = np.repeat(position[keep] - before, sizes) + byte
        rows = np.array([side.row for side in sides], dtype=np.int64)[side_of[keep]]
        flat = np.repeat(rows * RING_SAMPLES, sizes) + sample % RING_SAMPLES
        self._ring.reshape(-1)[flat] = _DECODE[codes]

    @staticmethod
    def _positions(
        sides: Sequence[TapSide],
        side_of: NDArray[np.int64],
        timestamp: NDArray[np.int64],
        ssrc: NDArray[np.int64],
        arrival: NDArray[np.int64],
    ) -> NDArray[np.int64]:
        """Each packet's sample: its stream's anchor plus the unwrapped timestamp steps since,
        the anchor being a new SSRC's first packet (or one whose timestamp strayed from its
        arrival) placed where it arrived. Leaves each side's stream state at its last packet."""
        count = side_of.size
        opens = np.ones(count, dtype=np.bool_)  # a side's first packet in this batch
        opens[1:] = side_of[1:] != side_of[:-1]
        previous_ts = np.empty(count, dtype=np.int64)
        previous_ts[1:] = timestamp[:-1]
        previous_ssrc = np.empty(count, dtype=np.int64)
        previous_ssrc[1:] = ssrc[:-1]
        carried = np.zeros(count, dtype=np.int64)  # the side's last position, at its opens
        for index in np.flatnonzero(opens).tolist():
            side = sides[int(side_of[index])]
            previous_ts[index] = side.last_timestamp
            previous_ssrc[index] = side.ssrc
            carried[index] = side.position
        step = ((timestamp - previous_ts + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
        steps = np.cumsum(step)
        anchor = ssrc != previous_ssrc
        for _ in range(_MAX_REANCHOR_ROUNDS):
            segment = anchor | opens
            head = np.flatnonzero(segment)[np.cumsum(segment) - 1]  # each packet's segment start
            start = np.where(anchor, arrival, carried + step)[head]
            position: NDArray[np.int64] = start + steps - steps[head]
            strayed = np.flatnonzero(np.abs(position - arrival) > REANCHOR_SAMPLES)
            if not strayed.size:
                break
            # The first stray of each segment becomes an anchor; the rest follow from it.
            _, first = np.unique(head[strayed], return_index=True)
            anchor[strayed[first]] = True
        else:  # strays in every round: garbage, or a sender restarting its clock each packet
            position = _one_by_one(sides, side_of, timestamp, ssrc, arrival)
        closes = np.ones(count, dtype=np.bool_)
        closes[:-1] = side_of[1:] != side_of[:-1]
        for index in np.flatnonzero(closes).tolist():
            side = sides[int(side_of[index])]
            side.ssrc = int(ssrc[index])
            side.last_timestamp = int(timestamp[index])
            side.position = int(position[index])
        return position

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
