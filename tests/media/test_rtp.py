"""RTP header parse/serialise against captured packets, in-place rewriting, and garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.rtp import (
    RtpHeader,
    RtpPacket,
    RtpParseError,
    rewrite_header,
    set_marker,
    set_sequence,
    set_ssrc,
    set_timestamp,
)

DATA = Path(__file__).parent.parent / "data" / "rtp"


def captured(name: str) -> bytes:
    return bytes.fromhex((DATA / f"{name}.hex").read_text().strip())


def test_sipp_g711a_packet_fields() -> None:
    data = captured("sipp_g711a_marker")
    header = RtpHeader.parse(data)
    assert header == RtpHeader(
        payload_type=8, sequence=0xE6FD, timestamp=0xF0, ssrc=0xDEE0EE8F, marker=True
    )
    assert header.size == 12
    packet = RtpPacket.parse(data)
    assert len(packet.payload) == 240  # 30 ms of PCMA
    assert RtpHeader.parse(captured("sipp_g711a")).marker is False


def test_telephone_event_packet_fields() -> None:
    packet = RtpPacket.parse(captured("sipp_telephone_event_end"))
    assert packet.header.payload_type == 101
    assert packet.header.sequence == 0x1F37
    # RFC 4733 §2.3: event 1, end bit set, volume 10, duration 0x08c0.
    assert packet.payload == bytes.fromhex("018a08c0")


def test_csrc_extension_padding_fields() -> None:
    packet = RtpPacket.parse(captured("crafted_csrc_extension_padding"))
    header = packet.header
    assert header.csrcs == (0x11111111, 0x22222222)
    assert header.extension_profile == 0xBEDE
    assert header.extension_data == bytes([0x10, 0xAB, 0, 0])
    assert header.padding is True
    assert header.sequence == 0xFFFE
    assert header.size == 12 + 8 + 8
    assert packet.payload == b"\xff\xfe\xfd\xfc"
    assert packet.padding_size == 4


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.hex")))
def test_round_trip_captured(name: str) -> None:
    data = captured(name)
    assert RtpPacket.parse(data).serialize() == data
    header = RtpHeader.parse(data)
    assert data.startswith(header.serialize())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00\x00",
        bytes(12),  # version 0
        b"\x40" + bytes(11),  # version 1
        b"\x82" + bytes(11) + bytes(4),  # two CSRCs announced, one present
        b"\x90" + bytes(11) + b"\xbe\xde",  # extension header cut short
        b"\x90" + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4),  # extension runs past the end
        b"\xa0" + bytes(11) + b"\x00",  # padding count zero
        b"\xa0" + bytes(11) + b"\x09",  # padding longer than the packet
    ],
)
def test_bad_packets_raise_parse_error(data: bytes) -> None:
    with pytest.raises(RtpParseError):
        RtpPacket.parse(data)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert packet.header.size + len(packet.payload) + packet.padding_size == len(data)


headers = st.builds(
    RtpHeader,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension_profile=st.none() | st.integers(0, 0xFFFF),
).map(
    lambda h: (
        h
        if h.extension_profile is None
        else RtpHeader(
            h.payload_type,
            h.sequence,
            h.timestamp,
            h.ssrc,
            h.marker,
            csrcs=h.csrcs,
            extension_profile=h.extension_profile,
            extension_data=b"\x01\x02\x03\x04" * (h.sequence % 3),
        )
    )
)


@given(headers, st.binary(max_size=64))
def test_serialize_parse_round_trip(header: RtpHeader, payload: bytes) -> None:
    packet = RtpPacket(header, payload)
    assert RtpPacket.parse(packet.serialize()) == packet


def test_rewrite_in_place() -> None:
    data = captured("sipp_g711a")
    buf = bytearray(data)
    rewrite_header(buf, 7, 123456, 0xCAFEBABE)
    header = RtpHeader.parse(buf)
    assert (header.sequence, header.timestamp, header.ssrc) == (7, 123456, 0xCAFEBABE)
    assert buf[12:] == data[12:]
    set_sequence(buf, 0xFFFF)
    set_timestamp(buf, 0xFFFFFFFF)
    set_ssrc(buf, 1)
    set_marker(buf)
    header = RtpHeader.parse(buf)
    assert (header.sequence, header.timestamp, header.ssrc) == (0xFFFF, 0xFFFFFFFF, 1)
    assert header.marker and header.payload_type == 8
