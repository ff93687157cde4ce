"""Reading SIPp's verdicts: statistics CSV, response times, pcap packet counts."""

from __future__ import annotations

import struct
from pathlib import Path

from bench import sipp

HEADER = ";".join(
    ["TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "FailedUnexpectedMessage(C)",
     "FailedMaxUDPRetrans(C)"]
)  # fmt: skip


def test_counts_come_from_the_last_row_with_causes_that_happened(tmp_path: Path) -> None:
    stat = tmp_path / "uac_stat.csv"
    stat.write_text(f"{HEADER};\n10;5;0;0;0;\n300;290;10;7;3;\n")
    counts = sipp.read_counts(stat)
    assert (counts.created, counts.successful, counts.failed) == (300, 290, 10)
    assert counts.failed_by_cause == {"UnexpectedMessage": 7, "MaxUDPRetrans": 3}


def test_counts_are_zero_before_sipp_wrote_anything(tmp_path: Path) -> None:
    assert sipp.read_counts(tmp_path / "missing.csv") == sipp.Counts(0, 0, 0)


def test_setup_times_skip_the_header_of_every_rtt_file(tmp_path: Path) -> None:
    (tmp_path / "uac_1_rtt.csv").write_text("Date_ms;response_time_ms;rtd_no\n8.001;4;1\n9;0;1\n")
    assert sorted(sipp.read_setup_times(tmp_path)) == [0.0, 4.0]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert sipp.percentile(values, 0.5) == 50.0
    assert sipp.percentile(values, 0.99) == 99.0
    assert sipp.percentile([7.0], 0.99) == 7.0
    assert sipp.percentile([], 0.5) is None


def test_pcap_packets_counts_records(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    records = b"".join(struct.pack("<IIII", 0, 0, n, n) + b"x" * n for n in (172, 60, 172))
    path = tmp_path / "three.pcap"
    path.write_bytes(header + records)
    assert sipp.pcap_packets(path) == 3


def test_rtt_dump_interval_divides_the_call_count() -> None:
    assert sipp.rtt_dump_every(3000) == 100
    assert sipp.rtt_dump_every(10) == 10
    assert sipp.rtt_dump_every(1801) == 1  # 1801 is prime
    assert 1800 % sipp.rtt_dump_every(1800) == 0
