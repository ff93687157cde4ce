"""The conference scenario's counters: socket drops from /proc/net/udp, and a mix's loss from its
RTP sequence numbers (RFC 3550 §A.3) across the 16-bit wrap."""

from __future__ import annotations

import struct
from pathlib import Path

from bench.conference import max_clean_rooms, udp_drops
from bench.rtp_blaster import Stream

HEADER = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"  # noqa: E501


def _row(port: int, drops: int) -> str:
    return (
        f"  1: 0100007F:{port:04X} 00000000:0000 07 00000000:00000000 00:00000000 00000000"
        f"     0        0 123 2 0000000000000000 {drops}"
    )


def test_udp_drops_sums_the_drops_of_the_given_ports(tmp_path: Path) -> None:
    table = tmp_path / "udp"
    table.write_text("\n".join([HEADER, _row(16000, 3), _row(16002, 4), _row(5060, 99)]) + "\n")
    assert udp_drops({16000, 16002}, table) == 7
    assert udp_drops({17000}, table) == 0


def _packet(seq: int, ts: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, 1) + bytes(160)


def test_a_mix_stream_counts_gaps_across_the_wrap_and_ignores_what_came_before_the_blast() -> None:
    stream = Stream(mixed=True)
    stream.datagram_received(_packet(1, 0), ("127.0.0.1", 1))  # before the blast: not counted
    stream.start_counting()
    seqs = [65530 + i for i in range(12) if i not in (3, 8)]  # two lost, the wrap at 65536
    seqs.insert(4, seqs.pop(3))  # and one reordered
    for seq in seqs:
        stream.datagram_received(_packet(seq, seq * 160), ("127.0.0.1", 1))
    assert stream.received == 10
    assert stream.lost == 2


def test_rtcp_reaching_a_mix_stream_is_counted_apart_not_as_a_new_source() -> None:
    """The switch's SRs go to RTP port + 1, which may be another stream's RTP socket: read as
    RTP, the SR's NTP seconds looked like a new SSRC mid-blast."""
    stream = Stream(mixed=True)
    stream.start_counting()
    report = struct.pack("!BBHIII", 0x80, 200, 12, 0x1234, 0xEEB9714F, 0) + bytes(36)
    for seq in range(6):
        stream.datagram_received(_packet(seq, seq * 160), ("127.0.0.1", 1))
        if seq == 3:
            stream.datagram_received(report, ("127.0.0.1", 1))
    assert stream.ssrc_changes == 0 and stream.rtcp == 1
    assert stream.counted == 6 and stream.lost == 0


def test_the_capacity_is_the_most_rooms_under_0_1_pct_loss_where_everyone_heard_a_mix() -> None:
    from bench.conference import ConferenceStep

    def step(rooms: int, loss: float, silent: int = 0) -> ConferenceStep:
        return ConferenceStep(
            rooms, rooms * 3, 5, 1, 1, 0, 0, 0, silent, 1, 0, 0, 0, 0, 0, loss, None, 1, 1, 1.0, 1.0
        )

    assert max_clean_rooms([step(100, 0.0), step(200, 0.05), step(300, 0.5)]) == 200
    assert max_clean_rooms([step(100, 0.0, silent=1)]) is None
