"""The jitter buffer against a simulated network: what the leg would play, tick by tick."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netsim import TICK_S, index_of, payload_for, run, stream

from softswitch.media.jitter import NOTHING, PLAYED, Arrival, Frame, JitterBuffer, Lost, conceal


def assert_in_order(indices: list[int]) -> None:
    assert indices == sorted(indices), "played out of order"
    assert len(indices) == len(set(indices)), "a packet was played twice"


def test_steady_stream_plays_every_packet_once_at_one_tick_depth() -> None:
    packets = stream(500)
    result = run(packets, [0.004] * 500)
    assert result.indices() == list(range(500))
    stats = result.buffer.stats()
    assert stats.played == 500
    assert stats.target_ms == 20.0
    # Only the end of the stream is concealed, max_conceal_ticks of it.
    assert stats.concealed == 3
    # Latency: each packet plays within two ticks of being sent.
    for tick, frame in result.frames():
        sent = packets[index_of(frame.payload)].sent_s
        assert 0 < result.played[tick].at_s - sent <= 2 * TICK_S + 0.005


def test_every_tick_gives_exactly_one_frame_of_160_bytes() -> None:
    result = run(stream(100), [0.01] * 100)
    for played in result.played:
        if isinstance(played.output, Frame):
            assert len(played.output.payload) == 160
    assert len(result.played) == len({p.tick for p in result.played})


def test_reordered_packets_play_in_order() -> None:
    count = 400
    delays: list[float | None] = [0.030 if k % 2 == 0 else 0.005 for k in range(count)]
    # Even packets arrive after the odd one that follows them.
    result = run(stream(count), delays)
    assert result.indices() == list(range(count))
    assert result.buffer.stats().late == 0


def test_random_jitter_adapts_depth_and_loses_nothing() -> None:
    rng = random.Random(7)
    count = 1500
    delays: list[float | None] = [rng.uniform(0.0, 0.06) for _ in range(count)]
    result = run(stream(count), delays)
    indices = result.indices()
    assert_in_order(indices)
    stats = result.buffer.stats()
    # The depth grew beyond one tick to absorb 60 ms of spread and stayed under the cap.
    assert 40.0 <= stats.target_ms <= 200.0
    assert stats.late + stats.skipped < 0.01 * count
    assert len(indices) == count - stats.late - stats.skipped
    assert stats.concealed < 0.01 * count


def test_five_percent_loss_is_concealed_where_packets_are_missing() -> None:
    rng = random.Random(3)
    count = 2000
    lost = {k for k in range(1, count - 1) if rng.random() < 0.05}
    delays = [None if k in lost else 0.01 + rng.uniform(0, 0.01) for k in range(count)]
    result = run(stream(count), delays)
    indices = result.indices()
    assert_in_order(indices)
    assert set(indices) == set(range(count)) - lost
    # Each gap in what was played was concealed, one Lost per missing packet at least.
    outputs = [p.output for p in result.played]
    for k in lost:
        if k - 1 in lost or k + 1 in lost:
            continue
        before = next(
            n
            for n, o in enumerate(outputs)
            if isinstance(o, Frame) and index_of(o.payload) == k - 1
        )
        assert isinstance(outputs[before + 1], Lost)
    stats = result.buffer.stats()
    assert stats.concealed <= len(lost) + 3  # no extra holds; 3 for the end of the stream
    assert stats.lost == len(lost)  # RFC 3550 A.3 cumulative loss
    assert stats.expected == count
    assert abs(stats.loss_ratio - len(lost) / count) < 1e-9


def test_burst_loss_is_concealed_then_silent_and_keeps_its_length() -> None:
    count = 200
    burst = set(range(100, 108))
    delays = [None if k in burst else 0.005 for k in range(count)]
    result = run(stream(count), delays)
    assert result.indices() == [k for k in range(count) if k not in burst]
    outputs = [p.output for p in result.played]
    ticks = {index_of(f.payload): t for t, f in result.frames()}
    gap = outputs[ticks[99] + 1 : ticks[108]]
    assert len(gap) >= len(burst)  # the lost time is not squeezed out
    assert gap[:3] == [
        Lost(gap[0].timestamp, 1),
        Lost(gap[0].timestamp, 2),
        Lost(gap[0].timestamp, 3),
    ]  # type: ignore[union-attr]
    assert all(out is None for out in gap[3:])


def test_burst_within_the_conceal_limit_is_lost_frame_by_frame() -> None:
    count = 200
    burst = set(range(100, 108))
    delays = [None if k in burst else 0.005 for k in range(count)]
    result = run(stream(count), delays, buffer=JitterBuffer(max_conceal_ticks=10))
    runs = [p.output.consecutive for p in result.played if isinstance(p.output, Lost)]
    assert max(runs) >= len(burst)
    assert result.indices() == [k for k in range(count) if k not in burst]


def test_sequence_and_timestamp_wrap_around() -> None:
    count = 300
    packets = stream(count, first_sequence=65_500, first_timestamp=2**32 - 160 * 100)
    rng = random.Random(11)
    delays: list[float | None] = [0.01 + rng.uniform(0, 0.02) for _ in range(count)]
    delays[150] = None
    result = run(packets, delays)
    assert result.indices() == [k for k in range(count) if k != 150]
    block = result.buffer.report_block(now=10.0)
    assert block is not None
    # Extended highest sequence: one cycle above 65_500 + 299 - 65_536.
    assert block.highest_sequence == (1 << 16) + (65_500 + count - 1 - 65_536)
    assert block.cumulative_lost == 1
    stats = result.buffer.stats()
    assert (stats.expected, stats.lost, stats.out_of_window) == (count, 1, 0)


def test_duplicates_are_dropped_and_counted() -> None:
    packets = stream(100)
    doubled = [p for p in packets for _ in range(2)]
    delays: list[float | None] = [0.005 if n % 2 == 0 else 0.008 for n in range(len(doubled))]
    result = run(doubled, delays)
    assert result.indices() == list(range(100))
    stats = result.buffer.stats()
    assert stats.duplicate + stats.late == 100
    assert stats.duplicate >= 90


def test_a_very_late_packet_is_dropped_and_counted() -> None:
    count = 200
    delays: list[float | None] = [0.005] * count
    delays[50] = 0.5
    result = run(stream(count), delays)
    assert result.buffer.stats().late == 1
    assert 50 not in result.indices()
    assert result.indices() == [k for k in range(count) if k != 50]


def test_delay_spike_is_held_not_lost_then_the_depth_shrinks_back() -> None:
    count = 1500
    delays: list[float | None] = [0.005] * count
    # From packet 300 the network stalls 200 ms, then delivers everything in one burst.
    for k in range(300, 310):
        delays[k] = 0.005 + 0.2 - (k - 300) * TICK_S
    result = run(stream(count), delays)
    indices = result.indices()
    stats = result.buffer.stats()
    assert stats.late == 0
    assert_in_order(indices)
    assert stats.skipped >= 5  # the extra depth of the spike was shed later
    # By the end the latency is back near the target.
    packets = stream(count)
    tick, frame = result.frames()[-1]
    assert result.played[tick].at_s - packets[index_of(frame.payload)].sent_s <= 0.07


def test_talkspurt_marker_resyncs_depth_after_silence() -> None:
    first = stream(100)
    # One second of silence suppression (no packets, the timestamp runs on), then a marker.
    second = stream(
        100,
        first_sequence=1100,
        first_timestamp=50_000 + 160 * 150,
        start_s=150 * TICK_S,
        first_index=100,
    )
    packets = first + second
    result = run(packets, [0.005] * len(packets))
    assert result.indices() == list(range(200))
    # The second talkspurt plays as soon as the first: depth is back to one tick.
    tick = next(t for t, f in result.frames() if index_of(f.payload) == 100)
    assert result.played[tick].at_s - packets[100].sent_s <= 2 * TICK_S + 0.005
    # Between talkspurts: a few concealed ticks, then silence (None), never 50 Lost.
    assert result.lost_ticks() <= 2 * 3


def test_marker_arriving_after_its_successor_still_starts_the_talkspurt() -> None:
    first = stream(60)
    second = stream(
        60,
        first_sequence=1060,
        first_timestamp=50_000 + 160 * 80,
        start_s=80 * TICK_S,
        first_index=60,
    )
    delays: list[float | None] = [0.005] * 120
    delays[60] = 0.030  # the marker packet comes after packet 61
    result = run(first + second, delays)
    assert result.indices() == list(range(120))
    assert result.buffer.stats().late == 0


def test_ssrc_change_resets_after_two_packets_and_keeps_the_first() -> None:
    old = stream(100)
    new = stream(
        100,
        first_sequence=7,
        first_timestamp=999,
        ssrc=0xBEEF,
        start_s=100 * TICK_S,
        first_index=100,
    )
    stray = stream(
        1, first_sequence=1100, first_timestamp=50_000 + 160 * 100, start_s=2.5, first_index=999
    )
    packets = old + new + stray
    delays: list[float | None] = [0.005] * len(packets)
    result = run(packets, delays)
    assert result.indices() == list(range(200))  # the stray old-source packet is not played
    stats = result.buffer.stats()
    assert stats.ssrc_changes == 1
    assert stats.probation == 2  # the new source's first packet, then the stray one
    assert result.buffer.ssrc == 0xBEEF
    assert (stats.expected, stats.lost) == (200, 0)


def test_sequence_restart_is_followed_after_confirmation() -> None:
    first = stream(50)
    jumped = stream(
        50,
        first_sequence=40_000,
        first_timestamp=50_000 + 160 * 50,
        start_s=50 * TICK_S,
        first_index=50,
        marker_first=False,
    )
    result = run(first + jumped, [0.005] * 100)
    stats = result.buffer.stats()
    assert stats.out_of_window == 1  # the first packet of the jump, until the next confirms it
    assert result.indices() == [k for k in range(100) if k != 50]


def test_thirty_ms_packets_are_cut_into_twenty_ms_ticks() -> None:
    count = 200
    packets = stream(count, ptime_s=0.03, units=240)
    result = run(packets, [0.005] * count)
    played = b"".join(frame.payload for _, frame in result.frames())
    sent = b"".join(p.payload for p in packets)
    assert played == sent
    assert result.buffer.stats().concealed <= 4


def test_thirty_ms_packet_lost_fills_its_share_with_silence() -> None:
    count = 40
    packets = stream(count, ptime_s=0.03, units=240)
    delays: list[float | None] = [0.005] * count
    delays[10] = None
    result = run(packets, delays)
    # Packet 10 held units 2400..2640: tick 15 is wholly lost, tick 16 is half silence.
    outputs = [p.output for p in result.played if p.output is not None]
    played = b"".join(o.payload if isinstance(o, Frame) else b"L" * 160 for o in outputs)
    sent = b"".join(p.payload for p in packets)
    expected = sent[:2400] + b"L" * 160 + b"\xff" * 80 + sent[2640:]
    assert played[: len(expected)] == expected


def test_jitter_estimate_follows_rfc3550_a8() -> None:
    # Alternating 0 / 10 ms extra delay: every transit difference is 80 units, so J -> 80.
    count = 400
    delays: list[float | None] = [0.005 + (0.01 if k % 2 else 0.0) for k in range(count)]
    result = run(stream(count), delays)
    source = result.buffer.stats().source
    assert source is not None
    assert abs(source.jitter_s - 0.010) < 0.0005
    assert result.buffer.target_ms == 40.0  # 3 x 10 ms, rounded up to whole ticks


def test_depth_is_capped() -> None:
    rng = random.Random(5)
    count = 600
    delays: list[float | None] = [rng.uniform(0, 0.8) for _ in range(count)]
    jb = JitterBuffer(max_depth_ms=100)
    result = run(stream(count), delays, buffer=jb)
    assert jb.target_ms == 100.0
    assert_in_order(result.indices())


def test_malformed_payloads_are_counted_not_raised() -> None:
    jb = JitterBuffer(bytes_per_unit=2)
    assert jb.push(1, 0, 1, False, b"", 0.0) is Arrival.MALFORMED
    assert jb.push(2, 160, 1, False, b"\x00" * 161, 0.0) is Arrival.MALFORMED
    assert jb.push(3, 320, 1, False, b"\x00" * 2 * 961, 0.0) is Arrival.MALFORMED
    assert jb.stats().malformed == 3
    assert jb.pop() is None


def test_nothing_yet_before_the_first_packet() -> None:
    jb = JitterBuffer()
    assert [jb.pop() for _ in range(5)] == [None] * 5


def test_conceal_repeats_then_fades_to_silence() -> None:
    last = np.full((4, 160), 10_000, dtype=np.int16)
    out = conceal(last, np.array([0, 1, 2, 4]))
    assert (out[0] == 10_000).all()
    assert (out[1, :80] == 10_000).all()  # the first 10 ms unattenuated
    assert out[1, 159] < 10_000 and out[2, 0] <= out[1, 159]
    assert (out[3] == 0).all()  # 60 ms and more: silent
    assert out.dtype == np.int16


_packet = st.tuples(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF_FFFF),
    st.sampled_from([1, 2, 0xFFFF_FFFF]),
    st.booleans(),
    st.binary(min_size=0, max_size=1200),
    st.floats(0, 0.2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_packet, st.none()), max_size=80))
def test_any_input_gives_one_well_formed_output_per_tick(
    steps: list[tuple[int, int, int, bool, bytes, float] | None],
) -> None:
    jb = JitterBuffer()
    now = 0.0
    for step in steps:
        if step is None:
            output = jb.pop()
            now += TICK_S
            assert output is None or isinstance(output, Lost | Frame)
            if isinstance(output, Frame):
                assert len(output.payload) == 160
            continue
        sequence, timestamp, ssrc, marker, payload, dt = step
        assert isinstance(jb.push(sequence, timestamp, ssrc, marker, payload, now + dt), Arrival)
    stats = jb.stats()
    assert stats.packets == sum(step is not None for step in steps)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF_FFFF),
    st.lists(st.floats(0, 0.1), min_size=50, max_size=50),
)
def test_in_order_play_for_any_start_and_jitter(
    first_sequence: int, first_timestamp: int, delays: list[float]
) -> None:
    packets = stream(50, first_sequence=first_sequence, first_timestamp=first_timestamp)
    result = run(packets, list(delays))
    indices = result.indices()
    assert_in_order(indices)
    stats = result.buffer.stats()
    assert len(indices) + stats.late + stats.skipped == 50
    assert payload_for(0) != payload_for(1)


def _pop_both(a: JitterBuffer, b: JitterBuffer, slab: bytearray) -> None:
    """One tick of the engine's two paths: `pop` (the oracle) and `pop_into` (batched)."""
    slab[:] = b"\x00" * len(slab)
    want = a.pop()
    got = b.pop_into(slab, 160)
    if isinstance(want, Frame):
        assert got == PLAYED and bytes(slab[160:320]) == want.payload
    elif isinstance(want, Lost):
        assert got == want.consecutive >= 1
    else:
        assert got == NOTHING
    assert slab[:160] == b"\x00" * 160 and slab[320:] == b"\x00" * 160  # its slot only


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_packet, st.none()), max_size=80))
def test_pop_into_plays_what_pop_plays_for_any_input(
    steps: list[tuple[int, int, int, bool, bytes, float] | None],
) -> None:
    a, b, slab = JitterBuffer(), JitterBuffer(), bytearray(480)
    for step in steps:
        if step is None:
            _pop_both(a, b, slab)
        else:
            assert a.push(*step) == b.push(*step)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(-3, 4), st.sampled_from([80, 160, 240]), st.booleans()),
            st.none(),
        ),
        max_size=200,
    )
)
def test_pop_into_plays_what_pop_plays_for_a_stream_with_loss_and_reordering(
    steps: list[tuple[int, int, bool] | None],
) -> None:
    """Mostly in sequence (steps back are late packets, skips are losses), 10-30 ms packets,
    over more ticks than the depth-tracking window, so every pop_into branch runs."""
    a, b, slab = JitterBuffer(), JitterBuffer(), bytearray(480)
    sequence, now = 0xFFF0, 0.0  # across the 16-bit wrap
    for step in steps:
        if step is None:
            _pop_both(a, b, slab)
            now += TICK_S
            continue
        delta, units, marker = step
        sequence = (sequence + delta) & 0xFFFF
        payload = bytes((sequence + i) & 0xFF for i in range(units))
        packet = (sequence, (sequence * 160) & 0xFFFF_FFFF, 7, marker, payload, now)
        assert a.push(*packet) == b.push(*packet)
    for _ in range(60):  # play everything out, into silence
        _pop_both(a, b, slab)
    assert a.stats() == b.stats()


@pytest.mark.parametrize("seed", range(4))
def test_pop_into_follows_pop_through_bursts_that_grow_and_shrink_the_depth(seed: int) -> None:
    """A network that holds packets back and releases them in bursts: the buffer deepens, then
    shrinks a frame at a time (the depth tracking pop_into inlines), for 20 s of ticks."""
    rng = random.Random(seed)
    a, b, slab = JitterBuffer(), JitterBuffer(), bytearray(480)
    sequence, held = 0, 0
    for tick in range(1000):
        held += 1
        burst = held if rng.random() < 0.15 or held > 8 else int(rng.random() < 0.7)
        for _ in range(min(burst, held)):
            payload = bytes((sequence + i) & 0xFF for i in range(160))
            packet = (sequence & 0xFFFF, sequence * 160, 9, False, payload, tick * TICK_S)
            assert a.push(*packet) == b.push(*packet)
            sequence += 1
            held -= 1
        _pop_both(a, b, slab)
    assert a.stats() == b.stats() and a.stats().skipped > 0
