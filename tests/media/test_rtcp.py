"""RTCP parse/serialise against packets pjsua2 sent, round trips, and garbage."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.reception import ReceptionStatistics
from softswitch.media.rtcp import (
    AppDefined,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpCompound,
    RtcpParseError,
    SdesChunk,
    SenderInfo,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    ntp_middle,
    ntp_timestamp,
    report_compound,
    round_trip_s,
)

DATA = Path(__file__).parent.parent / "data" / "rtp"


def captured(name: str) -> bytes:
    return bytes.fromhex((DATA / f"{name}.hex").read_text().strip())


def test_pjsua2_sender_report_fields() -> None:
    data = captured("pjsua2_rtcp_sr_sdes")
    compound = RtcpCompound.parse(data)
    sr, sdes = compound.packets
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0x5CD32E12
    assert sr.sender == SenderInfo(0xEEB91A8ED3755DC7, 0x96D0, 241, 241 * 160)
    assert sr.reports == (
        ReportBlock(
            ssrc=0x69F2ABF7,
            fraction_lost=0,
            cumulative_lost=0,
            highest_sequence=0x5FF1,
            jitter=3,
            last_sr=0x1A8A39F2,
            delay_since_last_sr=0x49963,
        ),
    )
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks[0].ssrc == 0x5CD32E12
    assert sdes.chunks[0].cname == b"049197ae1e9ec80c"
    assert compound.serialize() == data
    assert compound.first(SenderReport) is sr


def test_pjsua2_receiver_report_round_trips() -> None:
    data = captured("pjsua2_rtcp_rr_sdes")
    compound = RtcpCompound.parse(data)
    rr = compound.first(ReceiverReport)
    assert isinstance(rr, ReceiverReport)
    assert rr.ssrc == 0x5CD32E12
    assert len(rr.reports) == 1  # pjsua2 sends one empty block before it knows the source
    assert compound.serialize() == data


def test_lsr_is_the_middle_of_the_answered_sr() -> None:
    # The other side's SR that pjsua2 answered carried NTP 0xeeb91a8a39f24365.
    assert ntp_middle(0xEEB91A8A39F24365) == 0x1A8A39F2


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    sent_at = 1_700_000_000.0
    block = ReportBlock(1, 0, 0, 0, 0, ntp_middle(ntp_timestamp(sent_at)), 65536 // 2)
    rtt = round_trip_s(block, sent_at + 0.75)
    assert rtt is not None and abs(rtt - 0.25) < 1e-4
    assert round_trip_s(ReportBlock(1, 0, 0, 0, 0, 0, 0), sent_at) is None


def test_every_packet_type_round_trips_with_padding_on_the_last() -> None:
    compound = RtcpCompound(
        (
            SenderReport(
                0xDEADBEEF,
                SenderInfo(ntp_timestamp(1.5e9), 160_000, 10, 1600),
                (ReportBlock(7, 25, -3, 70_000, 12, 0x12345678, 655),),
                extension=b"\x01\x02\x03\x04",
            ),
            SourceDescription(
                (
                    SdesChunk(0xDEADBEEF, ((1, b"switch@example"), (6, b"softswitch"))),
                    SdesChunk(9, ((1, b"abc"),)),
                )
            ),
            Goodbye((0xDEADBEEF, 9), b"call ended"),
            AppDefined(3, 0xDEADBEEF, b"TEST", b"\x00\x01\x02\x03"),
        )
    )
    data = compound.serialize()
    assert RtcpCompound.parse(data) == compound
    # A padded RTPFB packet as the last one (only the last may be padded, RFC 3550 A.2).
    feedback = bytes([0xA1, 205, 0, 3]) + bytes(range(8)) + b"\x00\x00\x00\x04"
    parsed = RtcpCompound.parse(data + feedback)
    assert parsed.packets[-1] == UnknownRtcp(205, 1, bytes(range(8)))


def test_report_compound_is_rr_or_sr_then_cname() -> None:
    block = ReportBlock(5, 0, 0, 1, 2, 0, 0)
    rr = RtcpCompound.parse(report_compound(11, b"cname", (block,)).serialize())
    assert isinstance(rr.packets[0], ReceiverReport) and rr.packets[0].reports == (block,)
    sdes = rr.packets[1]
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == b"cname"
    info = SenderInfo(ntp_timestamp(0.0), 0, 0, 0)
    sr = RtcpCompound.parse(report_compound(11, b"cname", (), info).serialize())
    assert isinstance(sr.packets[0], SenderReport) and sr.packets[0].sender == info


def test_negative_cumulative_loss_survives_the_wire() -> None:
    block = ReportBlock(1, 0, -5, 0, 0, 0, 0)
    assert ReportBlock.parse(block.serialize()).cumulative_lost == -5


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x81\xc9\x00",  # shorter than a header
        b"\x41\xc9\x00\x01\x00\x00\x00\x00",  # version 1
        b"\x81\xc9\x00\x07\x00\x00\x00\x00",  # length past the datagram
        b"\x81\xc9\x00\x01\x00\x00\x00\x00",  # RR with RC=1 but no block
        b"\xa0\xc9\x00\x01\x00\x00\x00\x00"
        + b"\x80\xc9\x00\x01\x00\x00\x00\x01",  # padded not last
        b"\xa0\xc9\x00\x01\x00\x00\x00\x00",  # padding count 0
        b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x05ab",  # SDES item runs past the packet
        b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x02ab",  # SDES with no null item
        b"\x81\xcb\x00\x01\x00\x00\x00\x01\x81\xcb\x00\x01",  # BYE, second packet truncated
        b"\x80\xc8\x00\x01\x00\x00\x00\x01",  # SR without sender info
    ],
)
def test_malformed_rtcp_raises_the_declared_error(data: bytes) -> None:
    with pytest.raises(RtcpParseError):
        RtcpCompound.parse(data)


@given(st.binary(max_size=200))
def test_garbage_raises_only_the_declared_error(data: bytes) -> None:
    with contextlib.suppress(RtcpParseError):
        RtcpCompound.parse(data)


@given(st.integers(0, 79), st.integers(0, 255), st.integers(0, 79))
def test_mutated_captures_raise_only_the_declared_error(index: int, value: int, cut: int) -> None:
    data = bytearray(captured("pjsua2_rtcp_sr_sdes"))
    data[index] = value
    with contextlib.suppress(RtcpParseError):
        RtcpCompound.parse(bytes(data[: len(data) - cut]))


_u32 = st.integers(0, 0xFFFF_FFFF)
_block = st.builds(
    ReportBlock,
    _u32,
    st.integers(0, 255),
    st.integers(-0x800000, 0x7FFFFF),
    _u32,
    _u32,
    _u32,
    _u32,
)


@given(
    _u32,
    st.builds(SenderInfo, st.integers(0, 2**64 - 1), _u32, _u32, _u32),
    st.lists(_block, max_size=31),
    st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=255)), max_size=4),
)
def test_reports_round_trip(
    ssrc: int,
    info: SenderInfo,
    blocks: list[ReportBlock],
    items: list[tuple[int, bytes]],
) -> None:
    compound = RtcpCompound(
        (
            SenderReport(ssrc, info, tuple(blocks)),
            ReceiverReport(ssrc, tuple(blocks)),
            SourceDescription((SdesChunk(ssrc, tuple(items)),)),
        )
    )
    assert RtcpCompound.parse(compound.serialize()) == compound


def test_report_block_from_reception_statistics() -> None:
    stats = ReceptionStatistics(8000, first_sequence=65_530)
    sent = [(65_530 + k) & 0xFFFF for k in range(100)]
    for k, sequence in enumerate(sent):
        if k % 10 != 5:  # 10 of 100 lost
            stats.update(sequence, k * 160, k * 0.02)
    block = stats.report_block(ssrc=42, now=2.0)
    assert block.cumulative_lost == 10
    assert block.fraction_lost == 10 * 256 // 100
    assert block.highest_sequence == 65_536 + (65_530 + 99 - 65_536)
    # The next interval lost nothing: fraction 0, cumulative unchanged (RFC 3550 A.3).
    for k in range(100, 150):
        stats.update((65_530 + k) & 0xFFFF, k * 160, k * 0.02)
    block = stats.report_block(ssrc=42, now=3.0)
    assert (block.fraction_lost, block.cumulative_lost) == (0, 10)


def test_dlsr_counts_from_the_sender_report_arrival() -> None:
    stats = ReceptionStatistics(8000, first_sequence=1)
    stats.update(1, 0, 0.0)
    stats.sender_report(0xABCD1234, now=10.0)
    block = stats.report_block(ssrc=1, now=12.5)
    assert block.last_sr == 0xABCD1234
    assert block.delay_since_last_sr == int(2.5 * 65536)
