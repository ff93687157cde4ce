"""A MOS estimate of one leg from loss, jitter and delay: the E-model, simplified.

The CDR and /metrics want one number a supervisor understands. The E-model (ITU-T G.107)
rates a connection as R = Ro - Is - Id - Ie,eff + A; with every parameter at its default but
the ones we measure, Ro - Is = 93.2 (G.107 §7.7), the advantage A is 0 (wired), and:

- Id, the delay impairment, is the fit of G.107's curve by Cole and Rosenbluth ("Voice over
  IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001): 0.024 d + 0.11 (d - 177.3) for
  d > 177.3 ms, with d the one-way mouth-to-ear delay in ms.
- Ie,eff, the impairment of the codec under random packet loss, is G.107 equation (7-29):
  Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), with Ie and Bpl from ITU-T G.113 Appendix I.
- MOS from R is G.107 Annex B (B-4).

The one-way delay is what the caller knows: half the RTCP round trip, our jitter buffer's
depth and the packetisation time. Pure functions, no state.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

R_DEFAULT = 93.2  # ITU-T G.107 §7.7: R with all parameters at their defaults
ID_SLOPE = 0.024  # Cole & Rosenbluth 2001, fit of G.107's Id for d in ms
ID_KNEE_MS = 177.3
ID_KNEE_SLOPE = 0.11
PACKETISATION_MS = 20.0  # one tick of audio waits to fill a packet


@dataclass(frozen=True, slots=True)
class Equipment:
    """A codec's impairment under loss (ITU-T G.113 Appendix I, Table I.3)."""

    ie: float  # equipment impairment without loss
    bpl: float  # packet-loss robustness factor


# G.711 with the concealment of G.711 Appendix I, and without any (random loss, BurstR = 1).
G711_PLC = Equipment(ie=0.0, bpl=25.1)
G711_NO_PLC = Equipment(ie=0.0, bpl=4.3)
EQUIPMENT = MappingProxyType({"PCMU": G711_PLC, "PCMA": G711_PLC})


def one_way_delay_ms(
    round_trip_s: float | None, jitter_buffer_ms: float, packetisation_ms: float = PACKETISATION_MS
) -> float:
    """Mouth-to-ear delay from what a leg knows: half the RTCP round trip (0 unknown), the
    jitter buffer's depth and the packetisation time."""
    network_ms = 0.0 if round_trip_s is None else 500.0 * max(round_trip_s, 0.0)
    return network_ms + jitter_buffer_ms + packetisation_ms


def r_factor(
    loss_ratio: float,
    delay_ms: float,
    equipment: Equipment = G711_PLC,
    burst_ratio: float = 1.0,
) -> float:
    """The transmission rating R (ITU-T G.107 §7.1) for loss in 0..1 and one-way delay in ms."""
    ppl = 100.0 * min(max(loss_ratio, 0.0), 1.0)
    d = max(delay_ms, 0.0)
    delay_impairment = ID_SLOPE * d + (ID_KNEE_SLOPE * (d - ID_KNEE_MS) if d > ID_KNEE_MS else 0.0)
    ie_eff = equipment.ie + (95.0 - equipment.ie) * ppl / (ppl / burst_ratio + equipment.bpl)
    return R_DEFAULT - delay_impairment - ie_eff


def mos_from_r(r: float) -> float:
    """ITU-T G.107 Annex B (B-4): the MOS (conversational quality, 1..4.5) for a rating R.

    The polynomial dips just below 1 for 0 < R < 6.5; it is held at 1 there, so that the MOS
    never rises as R falls."""
    if r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    return max(1.0, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6)


def estimate_mos(
    loss_ratio: float,
    jitter_s: float,
    round_trip_s: float | None = None,
    jitter_buffer_ms: float | None = None,
    equipment: Equipment = G711_PLC,
) -> float:
    """The MOS estimate of a leg. Without the jitter buffer's depth, it is taken as twice the
    interarrival jitter, which is what a buffer needs to play such a stream."""
    buffer_ms = 2000.0 * jitter_s if jitter_buffer_ms is None else jitter_buffer_ms
    delay = one_way_delay_ms(round_trip_s, buffer_ms)
    return mos_from_r(r_factor(loss_ratio, delay, equipment))
