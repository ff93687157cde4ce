"""The jitter buffer of one leg: RTP packets in as they come, one 20 ms frame out per tick.

Sans-IO and pure: `push(...)` takes a packet with its arrival time, `pop()` is called once per
tick and answers with what to play: a `Frame` (payload bytes of one tick), a `Lost` frame (the
decoder conceals it: `conceal()` below) or None (nothing to play: before the first packet,
between talkspurts, or after a stream stopped).

How it plays out:

- Packets are placed by timestamp into a ring of timestamp units, so a packet of 10, 20, 30 or
  60 ms is cut into ticks and reordered packets fall into place. Sample-based codecs only
  (G.711, G.722 and L16: a fixed number of bytes per timestamp unit).
- Depth: the playout point trails the newest packet by a target of whole frames, from
  `min_depth_ms` (and at least one packet) up to `max_depth_ms`, sized to `jitter_factor`
  times the RFC 3550 A.8 interarrival jitter. It grows by holding the playout point for a
  tick (the frame is concealed) when a frame is missing and the buffer is thinner than the
  target; it shrinks by one frame when the buffer stayed more than a frame deeper than needed
  for a whole `shrink_window_ticks`; at a talkspurt start (marker bit, RFC 3551 §4.1) with
  nothing left to play before it, it is set to the target at once.
- A stream that stops (hold, silence suppression without a marker) is concealed for
  `max_conceal_ticks`, then is silent (None); its next packet restarts playout at the target.
- Late packets (their time has been played) and duplicates are dropped and counted; sequence
  numbers and timestamps are extended across their wrap (RFC 3550 A.1); a jump beyond the
  ring is believed when the next packet confirms it.
- A new SSRC is adopted when two packets in sequence confirm it (one stray packet of an old
  source does not flap the buffer): the buffer and the reception statistics start again, and
  the leg's totals keep what the old source had.

Untrusted input is bounded: payloads longer than `max_packet_ms`, empty or not whole units are
dropped and counted (`malformed`); nothing the network sends raises.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from softswitch.media.reception import (
    ReceptionSnapshot,
    ReceptionStatistics,
    Sequencing,
)
from softswitch.media.rtcp import ReportBlock

DEFAULT_CLOCK_RATE = 8000  # RFC 3551 §4.5.14: PCMU/PCMA (and G.722's RTP clock, §4.5.2)
DEFAULT_PTIME_MS = 20  # the tick
DEFAULT_MIN_DEPTH_MS = 20
DEFAULT_MAX_DEPTH_MS = 200
DEFAULT_MAX_PACKET_MS = 120
DEFAULT_JITTER_FACTOR = 3.0
DEFAULT_SHRINK_WINDOW_TICKS = 50  # one second
DEFAULT_MAX_CONCEAL_TICKS = 3  # 60 ms: where G.711 Appendix I concealment reaches silence


class Arrival(Enum):
    """What `push` did with a packet."""

    BUFFERED = "buffered"
    LATE = "late"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    OUT_OF_WINDOW = "out_of_window"
    PROBATION = "probation"


@dataclass(frozen=True, slots=True)
class Frame:
    """One tick of payload; `timestamp` is the RTP timestamp of its first unit."""

    payload: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class Lost:
    """No payload for this tick: conceal it. `consecutive` counts lost ticks in a row, from 1."""

    timestamp: int
    consecutive: int


@functools.lru_cache(maxsize=8)
def _constant(byte: int, size: int) -> memoryview:
    """`size` copies of `byte`, read-only (a memo of immutable values, not state)."""
    return memoryview(bytes((byte,)) * size)


PLAYED = 0  # pop_into: a frame was written
NOTHING = -1  # pop_into: nothing to play (pop's None)


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counters of one leg's buffer since it was made, over every source it had."""

    packets: int
    late: int
    duplicate: int
    malformed: int
    out_of_window: int
    probation: int
    ssrc_changes: int
    played: int
    concealed: int
    skipped: int
    target_ms: float
    expected: int  # RFC 3550 A.3 over all sources
    lost: int
    source: ReceptionSnapshot | None  # the current source's RFC 3550 figures

    @property
    def loss_ratio(self) -> float:
        return max(self.lost, 0) / self.expected if self.expected > 0 else 0.0


@dataclass(slots=True)
class _Candidate:
    ssrc: int
    sequence: int
    timestamp: int
    marker: bool
    payload: bytes
    now: float


class JitterBuffer:
    """Reorders, delays and conceals one leg's RTP so that each tick has exactly one frame."""

    # Slots: one buffer per engine leg is touched every tick; attribute reads stay cheap.
    __slots__ = (
        "_bpu",
        "_candidate",
        "_capacity",
        "_concealed",
        "_data",
        "_data_mv",
        "_data_view",
        "_duplicate",
        "_end",
        "_factor",
        "_fill",
        "_have",
        "_have_view",
        "_jump_sequence",
        "_late",
        "_lost_run",
        "_malformed",
        "_max_conceal",
        "_max_packet",
        "_max_target",
        "_min_target",
        "_old_expected",
        "_old_lost",
        "_ones",
        "_out_of_window",
        "_packet_units",
        "_packets",
        "_played",
        "_pos",
        "_probation",
        "_ref_ext",
        "_ref_ts",
        "_skipped",
        "_spurt_start",
        "_ssrc",
        "_ssrc_changes",
        "_stats",
        "_target",
        "_window",
        "_window_min",
        "_window_ticks",
        "_zeros",
        "clock_rate",
        "frame_units",
    )

    def __init__(
        self,
        *,
        clock_rate: int = DEFAULT_CLOCK_RATE,
        ptime_ms: int = DEFAULT_PTIME_MS,
        bytes_per_unit: int = 1,
        fill_byte: int = 0xFF,
        min_depth_ms: int = DEFAULT_MIN_DEPTH_MS,
        max_depth_ms: int = DEFAULT_MAX_DEPTH_MS,
        max_packet_ms: int = DEFAULT_MAX_PACKET_MS,
        jitter_factor: float = DEFAULT_JITTER_FACTOR,
        shrink_window_ticks: int = DEFAULT_SHRINK_WINDOW_TICKS,
        max_conceal_ticks: int = DEFAULT_MAX_CONCEAL_TICKS,
    ) -> None:
        """`fill_byte` is the codec's silence, for the part of a tick a lost packet leaves
        empty when packets are not a tick long (0xFF µ-law, 0xD5 A-law)."""
        frame = clock_rate * ptime_ms // 1000
        if frame <= 0 or not 0 < min_depth_ms <= max_depth_ms or bytes_per_unit <= 0:
            raise ValueError("the frame, depths and unit size must be positive, min <= max")
        self.frame_units = frame
        self.clock_rate = clock_rate
        self._bpu = bytes_per_unit
        self._fill = bytes((fill_byte,)) * (frame * bytes_per_unit)
        self._min_target = frame * math.ceil(min_depth_ms / ptime_ms)
        self._max_target = frame * max(1, max_depth_ms // ptime_ms)
        self._max_packet = clock_rate * max_packet_ms // 1000
        self._factor = jitter_factor
        self._window = shrink_window_ticks
        self._max_conceal = max_conceal_ticks
        # The ring holds the largest target, the largest packet and a tick of slack each side.
        self._capacity = self._max_target + self._max_packet + 2 * frame
        self._data = bytearray(self._capacity * bytes_per_unit)
        self._data_mv = memoryview(self._data)  # slices copy without an intermediate bytes
        self._have = bytearray(self._capacity)
        # Shared by every buffer of this size and sliced without copying: the engine clears
        # 900 buffers' slots a tick, and one hot source beats 900 cold ones.
        self._zeros = _constant(0, self._capacity)
        self._ones = _constant(1, self._capacity)
        # numpy views of the same memory, for the rare tick that is partly missing
        self._have_view = np.frombuffer(self._have, dtype=np.uint8)
        self._data_view = np.frombuffer(self._data, dtype=np.uint8).reshape(-1, bytes_per_unit)
        self._target = self._min_target
        self._packet_units = frame
        self._ssrc: int | None = None
        self._stats: ReceptionStatistics | None = None
        self._candidate: _Candidate | None = None
        self._jump_sequence: int | None = None
        self._pos: int | None = None  # extended timestamp of the next tick's first unit
        self._end = 0  # extended timestamp just past the newest unit received
        self._spurt_start = 0
        self._ref_ts = 0  # a recent raw timestamp and its extended value
        self._ref_ext = 0
        self._lost_run = 0
        self._window_ticks = 0
        self._window_min = 0
        self._packets = self._late = self._duplicate = self._malformed = 0
        self._out_of_window = self._probation = self._ssrc_changes = 0
        self._played = self._concealed = self._skipped = 0
        self._old_expected = self._old_lost = 0

    # -- packets in -----------------------------------------------------------------------

    def push(
        self,
        sequence: int,
        timestamp: int,
        ssrc: int,
        marker: bool,
        payload: bytes,
        now: float,
    ) -> Arrival:
        """Take one RTP packet that arrived at `now` (seconds, any monotonic clock)."""
        self._packets += 1
        size = len(payload)
        if size == 0 or size % self._bpu or size // self._bpu > self._max_packet:
            self._malformed += 1
            return Arrival.MALFORMED
        if ssrc != self._ssrc:
            candidate = self._candidate
            if self._ssrc is not None and (
                candidate is None
                or candidate.ssrc != ssrc
                or (candidate.sequence + 1) & 0xFFFF != sequence
            ):
                self._candidate = _Candidate(ssrc, sequence, timestamp, marker, payload, now)
                self._probation += 1
                return Arrival.PROBATION
            self._new_source(ssrc, sequence if candidate is None else candidate.sequence)
            if candidate is not None and candidate.ssrc == ssrc:
                self._candidate = None
                self._accept(
                    candidate.sequence,
                    candidate.timestamp,
                    candidate.marker,
                    candidate.payload,
                    candidate.now,
                )
                arrival = self._accept(sequence, timestamp, marker, payload, now)
                # The candidate waited a tick: play it now rather than one tick deeper.
                if self._pos is not None:
                    depth = len(payload) // self._bpu + self._target
                    self._pos = max(self._pos, self._end - depth)
                return arrival
        self._candidate = None
        return self._accept(sequence, timestamp, marker, payload, now)

    def _new_source(self, ssrc: int, first_sequence: int) -> None:
        if self._stats is not None:
            self._old_expected += self._stats.expected
            self._old_lost += self._stats.lost
            self._ssrc_changes += 1
        self._ssrc = ssrc
        self._stats = ReceptionStatistics(self.clock_rate, first_sequence)
        self._have[:] = self._zeros
        self._pos = None
        self._jump_sequence = None
        self._lost_run = 0

    def _accept(
        self, sequence: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> Arrival:
        stats = self._stats
        assert stats is not None
        sequencing = stats.update(sequence, timestamp, now)
        if sequencing is Sequencing.JUMP:
            self._out_of_window += 1
            return Arrival.OUT_OF_WINDOW
        units = size // self._bpu if (size := len(payload)) != self.frame_units else size
        if units > self._packet_units:
            self._packet_units = units
            self._target = self._target_for(stats.jitter_units)
        pos = self._pos
        if pos is None:
            self._ref_ts, self._ref_ext = timestamp, timestamp
            self._restart(timestamp)
            return self._store(timestamp, payload, units)
        ext = self._ref_ext + ((timestamp - self._ref_ts + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
        newest = sequencing is Sequencing.NEWEST
        if newest and self._end <= pos and (marker or ext > pos + self._target):
            # Nothing is left to play: start this talkspurt at the target depth.
            self._ref_ts, self._ref_ext = timestamp, ext
            self._restart(ext)
            return self._store(ext, payload, units)
        if marker and newest:
            # A talkspurt starts: with nothing left to play before it, resync to the target
            # (forward over the silence, or back to deepen); else play the old one out.
            start = ext - self._target
            if (
                ext > pos
                and self._end - start <= self._capacity
                and self._filled(pos, ext - pos) == 0
            ):
                pos = self._pos = start
                self._lost_run = 0
            self._spurt_start = max(self._spurt_start, ext)
        if ext + units <= pos or ext + units > pos + self._capacity:
            if ext + units <= pos and (
                sequencing is Sequencing.OLDER or pos - ext <= self._capacity
            ):
                self._late += 1
                return Arrival.LATE
            if self._jump_sequence is None or sequence != self._jump_sequence:
                self._jump_sequence = (sequence + 1) & 0xFFFF
                self._out_of_window += 1
                return Arrival.OUT_OF_WINDOW
            # The second packet in a row beyond the ring: the sender jumped; follow it.
            self._have[:] = self._zeros
            self._ref_ts, self._ref_ext = timestamp, ext
            self._restart(ext)
            return self._store(ext, payload, units)
        self._jump_sequence = None
        if ext - self._ref_ext > 0:
            self._ref_ts, self._ref_ext = timestamp, ext
        return self._store(ext, payload, units)

    def _restart(self, ext: int) -> None:
        self._pos = ext - self._target
        self._end = ext
        self._spurt_start = ext
        self._lost_run = 0
        self._jump_sequence = None

    def _store(self, ext: int, payload: bytes, units: int) -> Arrival:
        pos = self._pos
        assert pos is not None
        first = ext % self._capacity
        if ext >= pos and first + units <= self._capacity and self._bpu == 1:
            # The usual packet: whole, in the ring without wrapping, one byte per unit.
            last = first + units
            if self._have.find(0, first, last) < 0:
                self._duplicate += 1
                return Arrival.DUPLICATE
            self._data[first:last] = payload
            self._have[first:last] = self._ones[:units]
            if ext + units > self._end:
                self._end = ext + units
            return Arrival.BUFFERED
        skip = max(0, pos - ext)  # a packet straddling the playout point keeps its tail
        count = units - skip
        if self._filled(ext + skip, count) == count:
            self._duplicate += 1
            return Arrival.DUPLICATE
        bpu = self._bpu
        a, b, d = self._spans(ext + skip, count)
        split = skip + b - a
        self._data[a * bpu : b * bpu] = payload[skip * bpu : split * bpu]
        self._have[a:b] = self._ones[: b - a]
        if d:
            self._data[: d * bpu] = payload[split * bpu :]
            self._have[:d] = self._ones[:d]
        self._end = max(self._end, ext + units)
        return Arrival.BUFFERED

    def _target_for(self, jitter_units: float) -> int:
        # At least one packet's worth: with 30 ms packets a 20 ms depth would run dry
        # between two arrivals.
        frame = self.frame_units
        wanted = frame * math.ceil(max(self._factor * jitter_units, self._packet_units) / frame)
        return min(self._max_target, max(self._min_target, wanted))

    # -- frames out -----------------------------------------------------------------------

    def pop_into(self, out: bytearray, offset: int) -> int:
        """`pop` for the engine's batched tick: the frame's payload is written to
        `out[offset:offset + frame bytes]` instead of making a `Frame`. Returns PLAYED (0),
        NOTHING (-1), or for a lost frame its `Lost.consecutive` (>= 1)."""
        pos = self._pos
        if pos is None:
            return NOTHING
        ticks = self._window_ticks + 1
        if ticks & 7 and ticks < self._window:
            # _track_depth's usual tick, inlined (it is per leg per tick): only the minimum.
            depth = self._end - pos
            if ticks == 1 or depth < self._window_min:
                self._window_min = depth
            self._window_ticks = ticks
        else:
            self._track_depth()
            pos = self._pos
            assert pos is not None
        frame = self.frame_units
        capacity = self._capacity
        first = pos % capacity
        last = first + frame
        if last <= capacity and self._bpu == 1 and self._have.find(0, first, last) < 0:
            out[offset : offset + frame] = self._data_mv[first:last]  # the usual tick, as in pop
            self._have[first:last] = self._zeros[:frame]
            self._pos = pos + frame
            self._lost_run = 0
            self._played += 1
            return PLAYED
        found = self._pop_rest(pos)
        if isinstance(found, Frame):
            out[offset : offset + len(found.payload)] = found.payload
            return PLAYED
        return NOTHING if found is None else found.consecutive

    def pop(self) -> Frame | Lost | None:
        """The next tick's frame. Call exactly once per tick."""
        if self._pos is None:
            return None
        self._track_depth()
        pos = self._pos
        frame = self.frame_units
        timestamp = pos & 0xFFFF_FFFF
        first = pos % self._capacity
        last = first + frame
        if last <= self._capacity and self._bpu == 1 and self._have.find(0, first, last) < 0:
            # The usual tick: one whole frame, not wrapping the ring.
            payload = bytes(self._data[first:last])
            self._have[first:last] = self._zeros[:frame]
            self._pos = pos + frame
            self._lost_run = 0
            self._played += 1
            return Frame(payload, timestamp)
        return self._pop_rest(pos)

    def _pop_rest(self, pos: int) -> Frame | Lost | None:
        """A tick that is not one whole frame in the ring: partly filled, silent or lost."""
        frame = self.frame_units
        timestamp = pos & 0xFFFF_FFFF
        filled = self._filled(pos, frame)
        if filled:
            payload = self._take(pos, filled == frame)
            self._pos = pos + frame
            self._lost_run = 0
            self._played += 1
            return Frame(payload, timestamp)
        if pos + frame <= self._spurt_start:
            self._pos = pos + frame  # silence before a talkspurt
            return None
        if pos >= self._end:
            # Underrun: hold the playout point so that a late packet still plays and the
            # buffer deepens; a stream that stopped goes silent after max_conceal_ticks.
            if self._lost_run >= self._max_conceal:
                return None
        elif self._end - pos >= self._target or self._lost_run >= self._max_conceal:
            self._pos = pos + frame
        # else: a gap in a buffer thinner than the target: hold one tick to deepen it.
        self._lost_run += 1
        self._concealed += 1
        return Lost(timestamp, self._lost_run)

    def _spans(self, ext: int, count: int) -> tuple[int, int, int]:
        """Ring slots [a, b) and [0, d) holding `count` units from `ext` on."""
        first = ext % self._capacity
        head = min(count, self._capacity - first)
        return first, first + head, count - head

    def _filled(self, ext: int, count: int) -> int:
        a, b, d = self._spans(ext, count)
        return self._have.count(1, a, b) + (self._have.count(1, 0, d) if d else 0)

    def _clear(self, ext: int, count: int) -> None:
        a, b, d = self._spans(ext, count)
        self._have[a:b] = self._zeros[: b - a]
        self._have[:d] = self._zeros[:d]

    def _take(self, pos: int, full: bool) -> bytes:
        frame = self.frame_units
        bpu = self._bpu
        a, b, d = self._spans(pos, frame)
        if full:
            payload = bytes(self._data[a * bpu : b * bpu]) + bytes(self._data[: d * bpu])
        else:
            # Part of the tick is missing (a lost packet shorter than a tick): the codec's
            # silence fills it.
            slots = (pos + np.arange(frame)) % self._capacity
            mask = self._have_view[slots] != 0
            out = np.frombuffer(self._fill, dtype=np.uint8).reshape(frame, bpu).copy()
            out[mask] = self._data_view[slots[mask]]
            payload = out.tobytes()
        self._have[a:b] = self._zeros[: b - a]
        self._have[:d] = self._zeros[:d]
        return payload

    def _track_depth(self) -> None:
        # Shrink only when the buffer stayed more than a frame deeper than the target for a
        # whole window: a steady stream sits at target + one frame (the frame arriving).
        pos = self._pos
        assert pos is not None
        depth = self._end - pos
        if self._window_ticks == 0 or depth < self._window_min:
            self._window_min = depth
        self._window_ticks += 1
        if self._window_ticks & 7 == 0 and self._stats is not None:
            # The jitter estimate moves by 1/16 per packet: following it every 8 ticks is enough.
            self._target = self._target_for(self._stats.jitter_units)
        if self._window_ticks < self._window:
            return
        self._window_ticks = 0
        if self._window_min >= self._target + 2 * self.frame_units:
            self._clear(pos, self.frame_units)
            self._pos = pos + self.frame_units
            self._skipped += 1

    # -- figures --------------------------------------------------------------------------

    @property
    def packet_units(self) -> int:
        """The longest packet received so far, in timestamp units (a tick before the first)."""
        return self._packet_units

    @property
    def target_ms(self) -> float:
        return 1000.0 * self._target / self.clock_rate

    @property
    def ssrc(self) -> int | None:
        return self._ssrc

    def report_block(self, now: float) -> ReportBlock | None:
        """The RFC 3550 §6.4.1 report block about the current source, for our next SR/RR."""
        if self._stats is None or self._ssrc is None:
            return None
        return self._stats.report_block(self._ssrc, now)

    def sender_report(self, ntp_middle: int, now: float) -> None:
        """The current source sent an SR: its LSR and arrival time go in our next report."""
        if self._stats is not None:
            self._stats.sender_report(ntp_middle, now)

    def stats(self) -> JitterStats:
        source = None if self._stats is None else self._stats.snapshot()
        expected = self._old_expected + (0 if source is None else source.expected)
        lost = self._old_lost + (0 if source is None else source.lost)
        return JitterStats(
            packets=self._packets,
            late=self._late,
            duplicate=self._duplicate,
            malformed=self._malformed,
            out_of_window=self._out_of_window,
            probation=self._probation,
            ssrc_changes=self._ssrc_changes,
            played=self._played,
            concealed=self._concealed,
            skipped=self._skipped,
            target_ms=self.target_ms,
            expected=expected,
            lost=lost,
            source=source,
        )


# G.711 Appendix I: a lost frame repeats the last good audio, unattenuated for 10 ms, then
# 20 % weaker per 10 ms, silent after 60 ms.
CONCEAL_HOLD_S = 0.010
CONCEAL_FADE_PER_S = 20.0  # 20 % per 10 ms
Int16Frames = npt.NDArray[np.int16]


def conceal(
    last: Int16Frames, consecutive: npt.NDArray[np.integer], rate_hz: int = 8000
) -> Int16Frames:
    """Concealment audio for lost frames of many legs at once.

    `last` is int16[legs, samples], each leg's last good decoded frame; `consecutive` is
    int[legs], `Lost.consecutive` (0 gives the frame back as it is). Returns int16[legs,
    samples]: the last frame repeated with G.711 Appendix I's fade (a simplification: it
    repeats the frame, not one pitch period).
    """
    samples = last.shape[1]
    lost = np.asarray(consecutive, dtype=np.int64)
    elapsed = (np.maximum(lost, np.int64(1))[:, None] - 1) * samples + np.arange(samples)
    gain = 1.0 - CONCEAL_FADE_PER_S * (elapsed / rate_hz - CONCEAL_HOLD_S)
    gain = np.clip(gain, np.float64(0.0), np.float64(1.0))
    gain[lost <= 0] = 1.0
    out: Int16Frames = np.rint(last * gain).astype(np.int16)
    return out
