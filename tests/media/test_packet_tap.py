"""media/packet_tap.py and the relayed recordings of media/call_recording.py, without sockets.

The oracle is the simple path the engine runs for recorded calls it carries: a jitter buffer
popped once per tick and G.711 decoding. The same packet sequence (reordered, lost, the RTP
timestamp wrapping) goes to both; the tapped WAV must hold the oracle's frames sample for sample
wherever the oracle had a real frame, and silence where a packet never came. SSRC changes,
restarts of the sender's clock, header variants (CSRC, extension, padding), pause marks, 16 kHz
files and garbage from the network are covered too.
"""

from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from recording_store import Store
from spectrum import peaks_hz, sine

from softswitch.media.call_recording import DRAIN_TICKS, RecordingTaps
from softswitch.media.jitter import Frame, JitterBuffer, Lost
from softswitch.media.packet_tap import (
    _DECODE,
    REANCHOR_SAMPLES,
    RING_SAMPLES,
    PacketTimeline,
    _payload_bounds,
)
from softswitch.media.recorder import Recorder
from softswitch_codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

SAMPLES = 160
START_S = 1000.0  # the process clock when the recording starts: tick 50 000


class Engine:
    def add_tap(self, tap: object) -> None:
        pass

    def leg_of(self, endpoint: Any) -> Any:
        return None


class Endpoint:
    """What the taps use of a relayed media endpoint: its packet list and whether it closed."""

    closed = False

    def __init__(self) -> None:
        self.packets: list[tuple[bytes, float]] | None = None

    def tap_packets(self, packets: list[tuple[bytes, float]] | None) -> None:
        self.packets = packets

    def arrive(self, data: bytes, arrival_s: float) -> None:
        """As media/endpoint.py appends it: (datagram, arrival x 8000 - RTP timestamp)."""
        assert self.packets is not None
        timestamp = struct.unpack_from("!I", data, 4)[0]
        self.packets.append((data, arrival_s * 8000.0 - timestamp))


def packet(seq: int, timestamp: int, ssrc: int, payload: bytes, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


@dataclass
class Reference:
    """One side for `place_one_by_one`: its packets and where its stream stands."""

    packets: list[tuple[bytes, float]] = field(default_factory=list)
    ssrc: int = -1
    last_timestamp: int = 0
    position: int = 0


def place_one_by_one(ring: np.ndarray, side: Reference, floor: int) -> None:
    """The placement rule written out packet by packet: the reference `place` must equal."""
    for data, transit in side.packets:
        if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F not in (0, 8):
            continue
        bounds = (12, len(data)) if data[0] == 0x80 else _payload_bounds(data, data[0])
        if bounds is None:
            continue
        timestamp, ssrc = struct.unpack_from("!II", data, 4)
        arrival = round(transit + timestamp)
        if ssrc != side.ssrc:
            position = arrival
        else:
            step = ((timestamp - side.last_timestamp + 2**31) % 2**32) - 2**31
            position = side.position + step
            if abs(position - arrival) > REANCHOR_SAMPLES:
                position = arrival
        side.ssrc, side.last_timestamp, side.position = ssrc, timestamp, position
        start, end = bounds
        if position < floor or position + end - start > floor + RING_SAMPLES:
            continue
        law = 256 if data[1] & 0x7F == 8 else 0
        for offset, code in enumerate(data[start:end]):
            ring[(position + offset) % RING_SAMPLES] = _DECODE[code + law]
    side.packets.clear()


class Clock:
    def __init__(self) -> None:
        self.now = START_S

    def __call__(self) -> float:
        return self.now


def _taps(root: Path, rate: int = 8000) -> tuple[RecordingTaps, Store, Clock]:
    store, clock = Store(), Clock()
    taps = RecordingTaps(
        Engine(),  # type: ignore[arg-type]
        Recorder(root, rate),
        store,
        wall_clock=lambda: 1_700_000_000.0,
        clock=clock,
    )
    return taps, store, clock


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped by a slow envelope: every frame distinct, so a misplaced one shows."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    envelope = 0.3 + 0.7 * np.abs(np.sin(np.arange(n) / 900.0))
    return (rng.normal(0, 6000, n) * envelope).clip(-32000, 32000).astype(np.int16)


def _run(
    taps: RecordingTaps,
    clock: Clock,
    sends: dict[Endpoint, list[tuple[float, bytes]]],
    ticks: int,
) -> None:
    """Deliver each endpoint's (arrival, packet) list on the fake clock, draining as the timer
    would every DRAIN_TICKS, for `ticks` ticks from START_S."""
    pending = {ep: sorted(items, key=lambda item: item[0]) for ep, items in sends.items()}
    for tick in range(1, ticks + 1):
        clock.now = START_S + tick * 0.02
        for ep, items in pending.items():
            while items and items[0][0] <= clock.now:
                arrival, data = items.pop(0)
                ep.arrive(data, arrival)
        if tick % DRAIN_TICKS == 0:
            taps.drain()


def _oracle(arrivals: list[tuple[float, bytes]], ticks: int) -> list[np.ndarray | None]:
    """The engine's simple path: a jitter buffer popped each tick, µ-law decoded; None for a
    tick it concealed or had nothing for."""
    jitter = JitterBuffer(fill_byte=0xFF)
    out: list[np.ndarray | None] = []
    items = sorted(arrivals, key=lambda item: item[0])
    for tick in range(ticks):
        now = START_S + tick * 0.02
        while items and items[0][0] <= now:
            arrival, data = items.pop(0)
            seq, timestamp, ssrc = struct.unpack_from("!2xHII", data)
            jitter.push(seq, timestamp, ssrc, False, data[12:], arrival)
        frame = jitter.pop()
        if type(frame) is Frame:
            out.append(ulaw_decode(np.frombuffer(frame.payload, np.uint8)))
        else:
            assert frame is None or type(frame) is Lost
            out.append(None)
    return out


def test_tapped_file_matches_the_engine_path_sample_for_sample_with_reorder_loss_and_wrap() -> None:
    root = Path(tempfile.mkdtemp())
    taps, store, clock = _taps(root)
    caller, callee = Endpoint(), Endpoint()
    recording = taps.start_pair(
        3, "c3@test", caller, callee, caller_name="1001", callee_name="1002", relayed=True
    )
    assert recording is not None and caller.packets is not None
    frames = 150
    voice = _speech_like(frames * 0.02, seed=1)
    codes = ulaw_encode(voice).tobytes()
    # The timestamp wraps 40 frames in; the sequence number wraps too.
    ts0, seq0 = 0x1_0000_0000 - 40 * SAMPLES, 0xFFFF - 20
    lost = {30, 31, 77, 120}
    rng = np.random.default_rng(2)
    arrivals: list[tuple[float, bytes]] = []
    for i in range(frames):
        if i in lost:
            continue
        data = packet(seq0 + i, ts0 + i * SAMPLES, 0x1234, codes[i * SAMPLES : (i + 1) * SAMPLES])
        late = 0.0 if i == 0 else float(rng.uniform(0.0, 0.015))
        if i in (50, 90):  # these two arrive after the packet behind them
            late = 0.035
        arrivals.append((START_S + 0.001 + i * 0.02 + late, data))
    _run(taps, clock, {caller: list(arrivals)}, frames + 10)
    taps.stop(3)

    summary = store.events[-1][1]
    audio, rate = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert rate == 8000 and audio.shape[0] == (frames + 10) * SAMPLES
    assert not audio[:, 1].any()  # the callee sent nothing: silence
    # The first packet arrived 1 ms into the call's first tick: frame i is 8 samples in.
    tapped = audio[8 : 8 + frames * SAMPLES, 0].reshape(frames, SAMPLES)
    oracle = _oracle(arrivals, frames + 10)
    shift = next(t for t, f in enumerate(oracle) if f is not None)  # the buffer's playout delay
    compared = 0
    for i in range(frames):
        expected = oracle[i + shift] if i + shift < len(oracle) else None
        if i in lost:
            assert not tapped[i].any(), i  # a gap is silence
        elif expected is not None:
            assert np.array_equal(tapped[i], expected), i
            compared += 1
    assert compared >= frames - len(lost) - 3, compared  # the oracle conceals a few too


def test_new_ssrc_and_a_restarted_clock_are_placed_where_they_arrive_a_late_one_is_dropped() -> (
    None
):
    timeline = PacketTimeline(capacity=1)
    side = timeline.add_side()
    side2 = timeline.add_side()  # grows the ring: the first side's samples are kept
    tone = np.full(SAMPLES, 1000, np.int16)
    payload = ulaw_encode(tone).tobytes()
    base = 800_000  # sample of the first arrival
    side.packets.append((packet(1, 5000, 1, payload), base - 5000.0))
    # A new SSRC with an unrelated timestamp, arriving 3 ticks later: placed at its arrival.
    side.packets.append((packet(9, 7_000_000, 2, payload), base + 480 - 7_000_000.0))
    # The same SSRC's clock jumps a minute ahead (a restart): placed at its arrival too.
    jump = 7_000_000 + 160 + 480_000
    side.packets.append((packet(10, jump, 2, payload), base + 960 - jump))
    side2.packets.append((packet(1, 0, 3, payload), base - 1.0))  # before the floor: late
    timeline.place([side, side2], [base, base + 160])
    assert timeline.placed == 3 and timeline.dropped == 1
    first = base // SAMPLES
    got = np.concatenate([timeline.take([side.row], [side2.row], first + t)[0] for t in range(8)])
    level = ulaw_decode(np.frombuffer(payload, np.uint8))[0]
    assert (got[:SAMPLES, 0] == level).all()
    assert not got[SAMPLES : 3 * SAMPLES, 0].any()
    assert (got[3 * SAMPLES : 4 * SAMPLES, 0] == level).all()
    assert (got[6 * SAMPLES : 7 * SAMPLES, 0] == level).all()
    assert not got[:, 1].any()
    # Taken samples are cleared for the ring's next turn.
    assert not timeline.take([side.row], [side2.row], first)[0].any()


def test_csrc_extension_padding_and_pcma_are_decoded_other_payload_types_are_silence() -> None:
    timeline = PacketTimeline()
    side = timeline.add_side()
    pcm = np.arange(-8000, 8000, 100, dtype=np.int16)[:SAMPLES]
    alaw = alaw_encode(pcm).tobytes()
    # Version 2, padding, extension, 2 CSRCs; payload type 8 (PCMA).
    header = struct.pack("!BBHII", 0xB2, 8, 1, 0, 7) + b"\0" * 8
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\1\2\3\4"
    data = header + extension + alaw + b"\0\0\3"
    side.packets.append((data, 160_000.0))
    event = struct.pack("!BBHII", 0x80, 101, 2, 160, 7) + b"\x05\x0a\x00\xa0"
    side.packets.append((event, 160_000.0))
    timeline.place([side], [160_000])
    assert timeline.placed == 1 and timeline.dropped == 1
    got = timeline.take([side.row], [side.row], 1000)[0, :, 0]
    assert np.array_equal(got, alaw_decode(np.frombuffer(alaw, np.uint8)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=200), st.floats(-1e12, 1e12)), max_size=20))
def test_anything_from_the_network_is_placed_or_dropped_never_raises(
    packets: list[tuple[bytes, float]],
) -> None:
    timeline = PacketTimeline(capacity=1)
    side = timeline.add_side()
    side.packets.extend(packets)
    timeline.place([side], [0])
    assert timeline.placed + timeline.dropped == len(packets)
    assert not side.packets


def test_pause_marks_fall_where_asked_and_the_file_lasts_the_call_at_16k() -> None:
    root = Path(tempfile.mkdtemp())
    taps, store, clock = _taps(root, rate=16000)
    caller, callee = Endpoint(), Endpoint()
    taps.start_pair(5, "c5@test", caller, callee, caller_name="a", callee_name="b", relayed=True)
    left = ulaw_encode(sine(440.0, 8000, 3.0)).tobytes()
    right = ulaw_encode(sine(1000.0, 8000, 3.0)).tobytes()
    sends: dict[Endpoint, list[tuple[float, bytes]]] = {caller: [], callee: []}
    for i in range(150):
        chunk = slice(i * SAMPLES, (i + 1) * SAMPLES)
        sends[caller].append((START_S + i * 0.02, packet(i, i * SAMPLES, 1, left[chunk])))
        sends[callee].append((START_S + i * 0.02, packet(i, i * SAMPLES, 2, right[chunk])))
    _run(taps, clock, {caller: sends[caller][:50], callee: sends[callee][:50]}, 50)
    assert taps.pause(5)  # at 1.0 s of the call: what was tapped before is placed first
    _run_more = sends[caller][50:], sends[callee][50:]
    for tick in range(51, 151):
        clock.now = START_S + tick * 0.02
        for ep, items in zip((caller, callee), _run_more, strict=True):
            while items and items[0][0] <= clock.now:
                arrival, data = items.pop(0)
                ep.arrive(data, arrival)
        if tick == 75:
            assert taps.resume(5)
        if tick % DRAIN_TICKS == 0:
            taps.drain()
    taps.stop(5)

    summary = store.events[-1][1]
    assert [(m.start_s, m.end_s) for m in summary.pauses] == [(1.0, 1.5)]
    assert summary.duration_s == pytest.approx(3.0)
    audio, rate = sf.read(root / summary.path, dtype="int16", always_2d=True)
    assert rate == 16000 and audio.shape[0] == 3 * rate
    assert not audio[int(1.0 * rate) : int(1.5 * rate)].any()
    for part in (slice(int(0.1 * rate), int(0.95 * rate)), slice(int(1.6 * rate), None)):
        assert peaks_hz(audio[part, 0], rate)[0] == pytest.approx(440.0, abs=5)
        assert peaks_hz(audio[part, 1], rate)[0] == pytest.approx(1000.0, abs=5)


def test_a_closed_endpoint_ends_the_recording_and_untaps_both_sides() -> None:
    root = Path(tempfile.mkdtemp())
    taps, store, clock = _taps(root)
    caller, callee = Endpoint(), Endpoint()
    taps.start_pair(8, "c8@test", caller, callee, caller_name="a", callee_name="b", relayed=True)
    _run(taps, clock, {}, 2 * DRAIN_TICKS)
    callee.closed = True
    taps.drain()
    assert taps.recording_of(8) is None and not taps.pause(8)
    assert caller.packets is None and callee.packets is None
    assert store.events[-1][0] == "closed"
    assert store.events[-1][1].duration_s == pytest.approx(2 * DRAIN_TICKS * 0.02)


_streams = st.lists(
    st.tuples(
        st.integers(0, 2**32 - 1),  # first timestamp
        st.sampled_from([0x11, 0x22]),  # SSRC
        st.lists(
            st.tuples(
                st.integers(-3, 3),  # frames the timestamp moves (0: a duplicate, < 0: late)
                st.floats(0.0, 0.05),  # arrival jitter, s
                st.sampled_from([0, 8, 101]),  # PCMU, PCMA, an RFC 4733 event
                st.booleans(),  # a jump of the sender's clock (a restart)
            ),
            min_size=1,
            max_size=12,
        ),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(_streams, st.integers(0, 3))
def test_placing_every_side_at_once_equals_placing_packet_by_packet(
    streams: list[tuple[int, int, list[tuple[int, float, int, bool]]]], batches: int
) -> None:
    """Streams with reordering, duplicates, wraps, clock jumps, SSRC changes and events, over
    several batches and two sides: the vectorised `place` and the rule one packet at a time."""
    timeline = PacketTimeline(capacity=2)
    sides = [timeline.add_side(), timeline.add_side()]
    references = [Reference(), Reference()]
    rings = [np.zeros(RING_SAMPLES, np.int16), np.zeros(RING_SAMPLES, np.int16)]
    floor = 1_000_000 * SAMPLES
    for number, (first_ts, ssrc, packets) in enumerate(streams):
        timestamp = first_ts
        arrival_s = floor / 8000 + 0.02 * number
        for step, jitter, pt, jump in packets:
            timestamp = (timestamp + step * SAMPLES + (10**9 if jump else 0)) % 2**32
            arrival_s += 0.02
            payload = bytes((timestamp + k) % 256 for k in range(SAMPLES))
            data = packet(number, timestamp, ssrc, payload, pt)
            transit = (arrival_s + jitter) * 8000 - timestamp
            for side, reference, later in zip(sides, references, (0, 4000), strict=True):
                side.packets.append((data, transit + later))  # the second side 0.5 s later
                reference.packets.append((data, transit + later))
        if batches and number % (batches + 1) == batches:
            timeline.place(sides, [floor, floor])
            for reference, ring in zip(references, rings, strict=True):
                place_one_by_one(ring, reference, floor)
    timeline.place(sides, [floor, floor])
    for reference, ring in zip(references, rings, strict=True):
        place_one_by_one(ring, reference, floor)
    # Column t % RING of side i is ring[i][t*160 : (t+1)*160] of the reference.
    ticks = np.arange(RING_SAMPLES // SAMPLES) + floor // SAMPLES
    for side, reference, ring in zip(sides, references, rings, strict=True):
        got = np.concatenate(
            [timeline.take([side.row], [side.row], int(t))[0, :, 0] for t in ticks]
        )
        start = (floor // SAMPLES) % (RING_SAMPLES // SAMPLES) * SAMPLES
        assert np.array_equal(got, np.roll(ring, -start))
        assert timeline.stream(side) == (
            reference.ssrc,
            reference.last_timestamp,
            reference.position,
        )


def test_a_drain_after_a_stall_catches_up_without_touching_another_recording() -> None:
    """The loop stalled 1.6 s (80 ticks without a drain): every tapped packet is still placed,
    and feeding those ticks at once never overruns one recording's second into the next's."""
    root = Path(tempfile.mkdtemp())
    taps, store, clock = _taps(root)
    ends = [Endpoint() for _ in range(4)]
    for key in (1, 2):
        taps.start_pair(
            key,
            f"c{key}",
            *ends[2 * key - 2 : 2 * key],
            caller_name="a",
            callee_name="b",
            relayed=True,
        )
    tones = [ulaw_encode(sine(hz, 8000, 3.0)).tobytes() for hz in (300.0, 700.0, 1300.0, 2100.0)]
    for tick in range(1, 151):
        clock.now = START_S + tick * 0.02
        for number, ep in enumerate(ends):
            chunk = tones[number][(tick - 1) * SAMPLES : tick * SAMPLES]
            ep.arrive(packet(tick, tick * SAMPLES, number + 1, chunk), clock.now - 0.02)
        if tick % DRAIN_TICKS == 0 and not 40 <= tick < 120:
            taps.drain()
    taps.stop(1)
    taps.stop(2)
    for key, summary in enumerate(e[1] for e in store.events if e[0] == "closed"):
        audio, _ = sf.read(root / summary.path, dtype="int16", always_2d=True)
        assert audio.shape[0] == 150 * SAMPLES
        for channel in (0, 1):
            expected = np.frombuffer(tones[2 * key + channel], np.uint8)[: 150 * SAMPLES]
            assert np.array_equal(audio[:, channel], ulaw_decode(expected))
