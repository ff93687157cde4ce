"""The E-model MOS estimate: anchor values from ITU-T G.107/G.113 and its monotony."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.quality import (
    G711_NO_PLC,
    G711_PLC,
    R_DEFAULT,
    estimate_mos,
    mos_from_r,
    one_way_delay_ms,
    r_factor,
)


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
