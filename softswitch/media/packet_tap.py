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
_SSRC, _TIMESTAMP, _POSITION = 0, 1, 2  # columns of PacketTimeline._streams
_BIG_ENDIAN: Final = np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)
# Rounds of re-anchoring, one stray per stream per round; past them (a stream whose every
# packet strays) the batch is placed one packet at a time.
_MAX_REANCHOR_ROUNDS: Final = 4
_EXTENSION_WORDS = struct.Struct("!H")

Tapped = list[tuple[bytes, float]]
"""What the relay appends per packet: (datagram, transit = arrival * 8000 - RTP timestamp)."""


class TapSide:
    """One side of a recorded call: the list the relay fills, and its row of the timeline."""

    __slots__ = ("packets", "row")

    def __init__(self, row: int) -> None:
        self.row = row
        self.packets: Tapped = []


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
    streams: NDArray[np.int64],
    rows: NDArray[np.int64],
    timestamps: NDArray[np.int64],
    ssrcs: NDArray[np.int64],
    arrivals: NDArray[np.int64],
) -> NDArray[np.int64]:
    """`PacketTimeline._positions`' rule, one packet after the other, from each row's stream
    state in `streams` (not changed)."""
    state: dict[int, tuple[int, int, int]] = {}
    positions = []
    for row, timestamp, ssrc, arrival in zip(
        rows.tolist(), timestamps.tolist(), ssrcs.tolist(), arrivals.tolist(), strict=True
    ):
        last_ssrc, last_ts, last_position = state.get(row) or tuple(streams[row].tolist())
        position = arrival
        if ssrc == last_ssrc:
            step = ((timestamp - last_ts + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
            if abs(last_position + step - arrival) <= REANCHOR_SAMPLES:
                position = last_position + step
        state[row] = (ssrc, timestamp, position)
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
        # Per row, where its stream stands: SSRC (-1 before the first packet, never a 32-bit
        # SSRC), the last packet's timestamp and its sample (8 kHz, the process clock).
        self._streams: NDArray[np.int64] = np.zeros((capacity, 3), dtype=np.int64)
        self._streams[:, _SSRC] = -1
        self.placed = 0  # packets written into the ring
        self.dropped = 0  # tapped packets that were too late, too early or not G.711

    def add_side(self) -> TapSide:
        if not self._free:
            old = self._ring.shape[0]
            bigger = np.zeros((old * 2, *self._ring.shape[1:]), dtype=np.int16)
            bigger[:old] = self._ring
            self._ring = bigger
            streams = np.zeros((old * 2, 3), dtype=np.int64)
            streams[:, _SSRC] = -1
            streams[:old] = self._streams
            self._streams = streams
            self._free.extend(range(old * 2 - 1, old - 1, -1))
        return TapSide(self._free.pop())

    def stream(self, side: TapSide) -> tuple[int, int, int]:
        """(SSRC or -1, last timestamp, its sample): where the side's stream stands."""
        ssrc, timestamp, position = self._streams[side.row].tolist()
        return ssrc, timestamp, position

    def remove_side(self, side: TapSide) -> None:
        self._ring[side.row] = 0
        self._streams[side.row] = (-1, 0, 0)
        side.packets.clear()
        self._free.append(side.row)

    def place(self, sides: Sequence[TapSide], floors: Sequence[int]) -> None:
        """Decode the packets tapped on `sides` into the ring; `floors[i]` is the first sample
        of side i not yet final. The sides' lists are emptied.

        Headers, positions and decoding for every packet of every side at once; then one copy
        into the ring per run of packets that follow each other (a side's batch, when nothing
        was lost or reordered). Per packet in Python there is only slicing and joining."""
        counts = [len(side.packets) for side in sides]
        total = sum(counts)
        if not total:
            return
        tapped = list(chain.from_iterable(side.packets for side in sides))
        for side in sides:
            side.packets.clear()
        datas, transits = zip(*tapped, strict=True)
        heads = b"".join([data[:12] for data in datas])
        if len(heads) != 12 * total:  # a datagram shorter than a header (the relay taps none)
            heads = b"".join([data[:12].ljust(12, b"\0") for data in datas])
        header = np.frombuffer(heads, dtype=np.uint8).reshape(total, 12).astype(np.int64)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=total)
        first, payload_type = header[:, 0], header[:, 1] & 0x7F
        ok = (lengths >= 12) & (first >> 6 == 2) & ((payload_type == 0) | (payload_type == 8))
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
        rows = np.array([side.row for side in sides], dtype=np.int64)[side_of]
        arrival = np.rint(np.array(transits, dtype=np.float64)[valid] + timestamp).astype(np.int64)
        position = self._positions(rows, timestamp, ssrc, arrival)
        floor = np.asarray(floors, dtype=np.int64)[side_of]
        starts, ends = starts[valid], ends[valid]
        sizes = ends - starts
        keep = (position >= floor) & (position + sizes <= floor + RING_SAMPLES)
        kept = int(keep.sum())
        self.dropped += valid.size - kept
        if not kept:
            return
        self.placed += kept
        payload = np.frombuffer(
            b"".join(
                [
                    datas[index][start:end]
                    for index, start, end in zip(
                        valid[keep].tolist(),
                        starts[keep].tolist(),
                        ends[keep].tolist(),
                        strict=True,
                    )
                ]
            ),
            dtype=np.uint8,
        )
        sizes, position = sizes[keep], position[keep]
        alaw = payload_type[valid][keep] == 8
        if not alaw.any():
            pcm = ULAW_DECODE[payload]
        elif alaw.all():
            pcm = ALAW_DECODE[payload]
        else:
            pcm = _DECODE[payload.astype(np.intp) + np.repeat(alaw.astype(np.intp) * 256, sizes)]
        rows = rows[keep]
        # Runs: a packet that starts in the ring where the one before it (same side) ended.
        follows = np.zeros(kept, dtype=np.bool_)
        follows[1:] = (rows[1:] == rows[:-1]) & (position[1:] == position[:-1] + sizes[:-1])
        heads_at = np.flatnonzero(~follows)
        before = np.cumsum(sizes) - sizes  # where each packet's samples start in `pcm`
        run_ends = np.concatenate([before[heads_at[1:]], np.array([pcm.size], dtype=np.int64)])
        ring = self._ring.reshape(self._ring.shape[0], RING_SAMPLES)
        for row, at, source, source_end in zip(
            rows[heads_at].tolist(),
            (position[heads_at] % RING_SAMPLES).tolist(),
            before[heads_at].tolist(),
            run_ends.tolist(),
            strict=True,
        ):
            end = at + source_end - source
            if end <= RING_SAMPLES:
                ring[row, at:end] = pcm[source:source_end]
            else:  # the run goes round the ring's end
                split = source + RING_SAMPLES - at
                ring[row, at:] = pcm[source:split]
                ring[row, : end - RING_SAMPLES] = pcm[split:source_end]

    def _positions(
        self,
        rows: NDArray[np.int64],
        timestamp: NDArray[np.int64],
        ssrc: NDArray[np.int64],
        arrival: NDArray[np.int64],
    ) -> NDArray[np.int64]:
        """Each packet's sample: its stream's anchor plus the unwrapped timestamp steps since,
        the anchor being a new SSRC's first packet (or one whose timestamp strayed from its
        arrival) placed where it arrived. Leaves each row's stream at its last packet."""
        count = rows.size
        opens = np.ones(count, dtype=np.bool_)  # a side's first packet in this batch
        opens[1:] = rows[1:] != rows[:-1]
        closes = np.ones(count, dtype=np.bool_)
        closes[:-1] = opens[1:]
        streams = self._streams
        opened = streams[rows[opens]]
        previous_ts = np.empty(count, dtype=np.int64)
        previous_ts[1:] = timestamp[:-1]
        previous_ts[opens] = opened[:, _TIMESTAMP]
        previous_ssrc = np.empty(count, dtype=np.int64)
        previous_ssrc[1:] = ssrc[:-1]
        previous_ssrc[opens] = opened[:, _SSRC]
        carried = np.zeros(count, dtype=np.int64)  # the side's last position, at its opens
        carried[opens] = opened[:, _POSITION]
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
            position = _one_by_one(streams, rows, timestamp, ssrc, arrival)
        streams[rows[closes]] = np.stack(
            [ssrc[closes], timestamp[closes], position[closes]], axis=1
        )
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
