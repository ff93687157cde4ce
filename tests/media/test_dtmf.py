"""The RFC 4733 receiver against SIPp's captured digits and the losses a network causes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.media.dtmf import (
    DigitEnd,
    DigitEnded,
    DigitEvent,
    DigitStarted,
    DtmfMethod,
    EventState,
    TelephoneEventReceiver,
)
from softswitch_codecs.telephone_event import TelephoneEvent

CAPTURES = Path(__file__).parent.parent / "data" / "rtp" / "sipp_dtmf_2833.txt"
NAMES = {"star": "*", "pound": "#"}


def captured() -> dict[str, list[tuple[float, int, bytes]]]:
    packets: dict[str, list[tuple[float, int, bytes]]] = {}
    for line in CAPTURES.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, at, _sequence, timestamp, payload = line.split()
        packets.setdefault(NAMES.get(name, name), []).append(
            (float(at), int(timestamp), bytes.fromhex(payload))
        )
    return packets


def feed(
    receiver: TelephoneEventReceiver, packets: list[tuple[float, int, bytes]]
) -> list[DigitEvent]:
    events: list[DigitEvent] = []
    for at, timestamp, payload in packets:
        events += receiver.handle_timer(at)
        events += receiver.receive(payload, timestamp, at)
    return events


def event(digit: int, duration: int, end: bool = False) -> bytes:
    return TelephoneEvent(digit, end, 10, duration).serialize()


@pytest.mark.parametrize("digit", list("0123456789*#"))
def test_sipp_digits_are_reported_once_with_their_duration(digit: str) -> None:
    receiver = TelephoneEventReceiver()
    events = feed(receiver, captured()[digit])
    assert [type(e) for e in events] == [DigitStarted, DigitEnded]
    started, ended = events
    assert isinstance(started, DigitStarted) and isinstance(ended, DigitEnded)
    assert (started.digit, ended.digit) == (digit, digit)
    assert started.at == 0.0  # known at the first packet, for barge-in
    assert ended.duration_ms == 280.0  # 0x8c0 units at 8 kHz
    assert ended.end is DigitEnd.END_BIT and ended.method is DtmfMethod.RFC4733
    assert receiver.retransmitted_ends == 2  # SIPp sends the end three times
    assert receiver.next_timer() is None


def test_a_sequence_of_digits_on_one_stream() -> None:
    receiver = TelephoneEventReceiver()
    events: list[DigitEvent] = []
    offset = 0.0
    for n, digit in enumerate("1234#"):
        shifted = [(at + offset, ts + n * 8000, p) for at, ts, p in captured()[digit]]
        events += feed(receiver, shifted)
        offset += 1.0
    ended = [e.digit for e in events if isinstance(e, DigitEnded)]
    assert ended == list("1234#")
    assert receiver.digits == 5


def test_lost_end_packets_end_the_digit_by_timeout() -> None:
    receiver = TelephoneEventReceiver(end_timeout_s=0.25)
    packets = [p for p in captured()["5"] if not TelephoneEvent.parse(p[2]).end]
    events = feed(receiver, packets)
    assert [type(e) for e in events] == [DigitStarted]
    deadline = receiver.next_timer()
    assert deadline is not None and deadline == pytest.approx(packets[-1][0] + 0.25)
    assert receiver.handle_timer(deadline - 0.01) == []
    (ended,) = receiver.handle_timer(deadline)
    assert isinstance(ended, DigitEnded)
    assert (ended.digit, ended.end, ended.duration_ms) == ("5", DigitEnd.TIMEOUT, 240.0)
    # A late end packet after the timeout is a retransmission, not a second digit.
    assert receiver.receive(captured()["5"][-1][2], captured()["5"][-1][1], 2.0) == []
    assert receiver.digits == 1


def test_lost_end_then_the_next_digit_ends_the_first() -> None:
    receiver = TelephoneEventReceiver()
    events = receiver.receive(event(1, 160), 1000, 0.0)
    events += receiver.receive(event(1, 800), 1000, 0.1)
    events += receiver.receive(event(2, 0), 9000, 0.2)
    assert events == [
        DigitStarted("1", DtmfMethod.RFC4733, 0.0),
        DigitEnded("1", 100.0, DtmfMethod.RFC4733, 0.2, DigitEnd.NEXT_EVENT),
        DigitStarted("2", DtmfMethod.RFC4733, 0.2),
    ]
    assert receiver.state is EventState.ACTIVE


def test_only_the_end_of_a_short_digit_arrived() -> None:
    receiver = TelephoneEventReceiver()
    events = receiver.receive(event(9, 400, end=True), 5000, 1.0)
    assert events == [
        DigitStarted("9", DtmfMethod.RFC4733, 1.0),
        DigitEnded("9", 50.0, DtmfMethod.RFC4733, 1.0, DigitEnd.END_BIT),
    ]
    assert receiver.receive(event(9, 400, end=True), 5000, 1.02) == []
    assert receiver.retransmitted_ends == 1


def test_reordered_packets_of_an_older_digit_are_dropped() -> None:
    receiver = TelephoneEventReceiver()
    receiver.receive(event(1, 160), 1000, 0.0)
    receiver.receive(event(1, 800, end=True), 1000, 0.1)
    receiver.receive(event(2, 160), 9000, 0.5)
    assert receiver.receive(event(1, 480), 1000, 0.51) == []  # an old update, late
    assert receiver.stale == 1
    events = receiver.receive(event(2, 800, end=True), 9000, 0.6)
    assert [e.digit for e in events] == ["2"]


def test_timestamp_wrap_is_a_newer_event() -> None:
    receiver = TelephoneEventReceiver()
    receiver.receive(event(3, 800, end=True), 0xFFFF_FF00, 0.0)
    events = receiver.receive(event(4, 160), 0x0000_0100, 0.5)
    assert events == [DigitStarted("4", DtmfMethod.RFC4733, 0.5)]


def test_a_long_press_spans_segments_of_the_16_bit_duration() -> None:
    receiver = TelephoneEventReceiver()
    events = receiver.receive(event(0, 160), 10_000, 0.0)
    at = 0.0
    for duration in range(320, 0xFFFF, 400):
        at += 0.05
        events += receiver.receive(event(0, duration), 10_000, at)
    events += receiver.receive(event(0, 0xFFFF), 10_000, at + 0.05)
    # RFC 4733 §2.5.1.3: the next segment starts at the old timestamp plus the full duration.
    events += receiver.receive(event(0, 800), 10_000 + 0xFFFF, at + 0.1)
    events += receiver.receive(event(0, 1600, end=True), 10_000 + 0xFFFF, at + 0.2)
    assert [type(e) for e in events] == [DigitStarted, DigitEnded]
    ended = events[-1]
    assert isinstance(ended, DigitEnded)
    assert ended.duration_ms == pytest.approx(1000 * (0xFFFF + 1600) / 8000)


def test_non_digit_events_and_short_payloads_are_counted() -> None:
    receiver = TelephoneEventReceiver()
    assert receiver.receive(event(16, 160), 1, 0.0) == []  # flash
    assert receiver.receive(b"\x01\x0a", 2, 0.0) == []
    assert (receiver.unsupported, receiver.malformed) == (1, 1)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.binary(max_size=6), st.integers(0, 0xFFFF_FFFF), st.floats(0, 0.5)),
        max_size=40,
    )
)
def test_any_packets_give_paired_well_formed_events(
    packets: list[tuple[bytes, int, float]],
) -> None:
    receiver = TelephoneEventReceiver()
    now = 0.0
    events: list[DigitEvent] = []
    for payload, timestamp, dt in packets:
        now += dt
        events += receiver.handle_timer(now)
        events += receiver.receive(payload, timestamp, now)
    events += receiver.handle_timer(now + 10.0)
    # Every digit that started ends exactly once, in order, with a duration >= 0.
    open_digit: str | None = None
    for e in events:
        if isinstance(e, DigitStarted):
            assert open_digit is None
            open_digit = e.digit
        else:
            assert e.digit == open_digit and e.duration_ms >= 0
            open_digit = None
    assert open_digit is None
