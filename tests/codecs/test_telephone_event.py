"""RFC 4733 telephone-event payloads: captured bytes, round trips, and hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch_codecs import (
    CodecUsageError,
    MalformedPayloadError,
    TelephoneEvent,
    event_for_digit,
)
from softswitch_codecs.telephone_event import DTMF_EVENTS, MAX_DURATION, MAX_VOLUME

RTP = Path(__file__).resolve().parent.parent / "data" / "rtp"
RTP_HEADER_BYTES = 12  # these captures have no CSRC and no extension


def _captured_payload(name: str) -> bytes:
    return bytes.fromhex((RTP / f"{name}.hex").read_text().strip())[RTP_HEADER_BYTES:]


def test_sipp_digit_1_start_and_end_packets() -> None:
    """SIPp's dtmf_2833_1.pcap: key 1 at −10 dBm0, first packet then the end after 280 ms."""
    start = TelephoneEvent.parse(_captured_payload("sipp_telephone_event_marker"))
    assert start == TelephoneEvent(event=1, end=False, volume=10, duration=0)
    end = TelephoneEvent.parse(_captured_payload("sipp_telephone_event_end"))
    assert end == TelephoneEvent(event=1, end=True, volume=10, duration=2240)
    assert end.digit == "1"
    assert end.serialize() == _captured_payload("sipp_telephone_event_end")


events = st.builds(
    TelephoneEvent,
    event=st.integers(0, 255),
    end=st.booleans(),
    volume=st.integers(0, MAX_VOLUME),
    duration=st.integers(0, MAX_DURATION),
)


@given(events)
def test_round_trip(event: TelephoneEvent) -> None:
    wire = event.serialize()
    assert len(wire) == 4
    assert TelephoneEvent.parse(wire) == event


@given(st.lists(events, min_size=1, max_size=5))
def test_packed_events_parse_in_order(packed: list[TelephoneEvent]) -> None:
    wire = b"".join(e.serialize() for e in packed)
    assert TelephoneEvent.parse_all(wire) == packed
    assert TelephoneEvent.parse(wire) == packed[0]


@given(st.binary(min_size=4, max_size=4))
def test_reserved_bit_is_ignored(wire: bytes) -> None:
    flipped = wire[:1] + bytes([wire[1] ^ 0x40]) + wire[2:]
    assert TelephoneEvent.parse(flipped) == TelephoneEvent.parse(wire)
    assert TelephoneEvent.parse(wire).serialize()[1] & 0x40 == 0  # never sent set


@given(st.binary(max_size=64))
def test_any_bytes_parse_or_raise_the_declared_error(data: bytes) -> None:
    for parse in (TelephoneEvent.parse, TelephoneEvent.parse_all):
        try:
            parse(data)
        except MalformedPayloadError:
            assert len(data) < 4 or len(data) % 4
        else:
            assert len(data) >= 4


def test_digit_codes_follow_rfc_4733_table_7() -> None:
    assert [event_for_digit(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert event_for_digit("a") == 12
    assert TelephoneEvent(16, False, 0, 0).digit is None  # flash
    assert DTMF_EVENTS[11] == "#"
    for bad in ("", "E", "12", "+"):
        with pytest.raises(CodecUsageError):
            event_for_digit(bad)


@pytest.mark.parametrize(
    "fields", [(256, False, 0, 0), (-1, False, 0, 0), (1, False, 64, 0), (1, False, 0, 65536)]
)
def test_out_of_range_fields_are_refused_before_they_reach_the_wire(
    fields: tuple[int, bool, int, int],
) -> None:
    with pytest.raises(CodecUsageError):
        TelephoneEvent(*fields)
