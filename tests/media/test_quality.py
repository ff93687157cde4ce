"""The E-model MOS estimate: anchor values from ITU-T G.107/G.113 and its monotony; a leg's
figures per direction from its RTP counts and its phone's RTCP reports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.quality import (
    G711_NO_PLC,
    G711_PLC,
    R_DEFAULT,
    Report,
    estimate_mos,
    mos_from_r,
    one_way_delay_ms,
    r_factor,
    received_quality,
    report_of,
    reported_quality,
)
from softswitch.media.rtcp import ReportBlock, report_compound


def test_default_rating_gives_the_textbook_mos() -> None:
    assert abs(mos_from_r(R_DEFAULT) - 4.41) < 0.005  # G.107: R = 93.2 is MOS 4.41
    assert abs(mos_from_r(50.0) - 2.575) < 1e-9  # Annex B (B-4) by hand
    assert (mos_from_r(-3.0), mos_from_r(120.0)) == (1.0, 4.5)
    grid = [mos_from_r(r / 10) for r in range(-100, 1100)]
    assert grid == sorted(grid)  # held at 1 where the polynomial dips (0 < R < 6.5)
    assert min(grid) == 1.0


def test_loss_impairment_follows_g107_equation_7_29() -> None:
    # Ie,eff = 95 * Ppl / (Ppl + Bpl) for G.711 (Ie = 0) under random loss.
    no_delay = r_factor(0.0, 0.0)
    assert no_delay == R_DEFAULT
    assert abs((no_delay - r_factor(0.02, 0.0)) - 95 * 2 / (2 + 25.1)) < 1e-9
    assert abs((no_delay - r_factor(0.02, 0.0, G711_NO_PLC)) - 95 * 2 / (2 + 4.3)) < 1e-9


def test_delay_impairment_has_its_knee_at_177_ms() -> None:
    assert abs((R_DEFAULT - r_factor(0.0, 100.0)) - 2.4) < 1e-9
    below = r_factor(0.0, 170.0) - r_factor(0.0, 175.0)
    above = r_factor(0.0, 300.0) - r_factor(0.0, 305.0)
    assert abs(below - 0.12) < 1e-9 and abs(above - 0.67) < 1e-9


def test_a_clean_call_is_good_and_a_lossy_one_is_not() -> None:
    clean = estimate_mos(0.0, jitter_s=0.002, round_trip_s=0.02, jitter_buffer_ms=20.0)
    assert clean > 4.3
    lossy = estimate_mos(0.05, jitter_s=0.03, round_trip_s=0.3, jitter_buffer_ms=100.0)
    assert 2.5 < lossy < 4.0
    assert one_way_delay_ms(0.3, 100.0) == 150.0 + 100.0 + 20.0


@given(
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 0.5),
    st.floats(0, 0.5),
    st.floats(0, 3),
)
def test_worse_network_never_raises_the_mos(
    loss: float, more_loss: float, jitter: float, more_jitter: float, rtt: float
) -> None:
    base = estimate_mos(loss, jitter, rtt)
    assert 1.0 <= base <= 4.5
    assert estimate_mos(min(1.0, loss + more_loss), jitter, rtt) <= base + 1e-9
    assert estimate_mos(loss, jitter + more_jitter, rtt) <= base + 1e-9
    assert estimate_mos(loss, jitter, rtt, equipment=G711_PLC) == base


# ---- a leg's figures for the CDR and /metrics ----------------------------------------------


def test_received_figures_are_rfc3550_loss_and_jitter_with_a_mos() -> None:
    assert received_quality(0, 0, 0.0) is None  # the phone sent nothing
    clean = received_quality(500, 0, 8.0)  # 1 ms of jitter
    assert clean is not None and clean.loss_ratio == 0.0 and clean.jitter_s == 0.001
    lossy = received_quality(450, 50, 8.0)
    assert lossy is not None and lossy.loss_ratio == pytest.approx(0.1)
    assert lossy.mos == pytest.approx(estimate_mos(0.1, 0.001), abs=1e-3)
    assert 1.0 <= lossy.mos < clean.mos <= 4.5


def test_reported_figures_take_the_span_between_two_reports_or_one_report_s_fraction() -> None:
    assert reported_quality(None, None) is None
    first = Report(highest_sequence=70_250, cumulative_lost=25, fraction_lost=25, jitter=80)
    last = Report(highest_sequence=70_750, cumulative_lost=75, fraction_lost=26, jitter=160)
    span = reported_quality(first, last)
    assert span is not None and span.loss_ratio == pytest.approx(0.1)  # 50 of 500
    assert span.jitter_s == pytest.approx(0.02)  # the last report's jitter
    single = reported_quality(first, first)
    assert single is not None and single.loss_ratio == pytest.approx(25 / 256)


def _rr(ssrcs: list[int], lost: int) -> bytes:
    blocks = tuple(ReportBlock(s, 12, lost, 66_000 + lost, 40, 0, 0) for s in ssrcs)
    return report_compound(0xFEED, b"phone", blocks).serialize()


def test_the_report_about_our_stream_is_found_in_a_compound_packet() -> None:
    assert report_of(_rr([0xAAAA, 0xBBBB], 7), 0xBBBB) == Report(66_007, 7, 12, 40)
    assert report_of(_rr([0xAAAA], 3), 0xBBBB) == Report(66_003, 3, 12, 40)  # the only one
    assert report_of(_rr([0xAAAA, 0xCCCC], 3), 0xBBBB) is None  # neither is about us
    assert report_of(_rr([], 0), None) is None
    assert report_of(b"\x81\xc9garbage", None) is None


@given(st.binary(max_size=200), st.none() | st.integers(0, 2**32 - 1))
def test_any_bytes_give_a_report_or_none(data: bytes, ssrc: int | None) -> None:
    report_of(data, ssrc)  # a phone's RTCP never raises into the socket
