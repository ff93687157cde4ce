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

Per leg and direction (`LegMediaQuality`, for the CDR and /metrics): what the switch received
from the phone is counted on its RTP socket (media/endpoint.py: RFC 3550 A.1 loss, A.8 jitter,
whatever routes the packets), and what the phone received from the switch is what its RTCP
receiver reports say (`report_of`, `reported_quality`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from softswitch.media.rtcp import ReceiverReport, RtcpCompound, RtcpParseError, SenderReport

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


# ---- one leg's figures, both directions, for the CDR and /metrics --------------------------

RTP_CLOCK_HZ = 8000  # PCMU, PCMA and G.722 (RFC 3551 §4.5.2: G.722's RTP clock is 8000)


@dataclass(frozen=True, slots=True)
class StreamQuality:
    """One direction of one leg: loss in 0..1, RFC 3550 interarrival jitter, the MOS estimate.

    `jitter_s` is None when the direction has no measure of it (a phone that sends no RTCP)."""

    loss_ratio: float
    jitter_s: float | None
    mos: float


@dataclass(frozen=True, slots=True)
class LegMediaQuality:
    """What the switch received from a leg's phone (`received`, counted here per packet) and
    what the phone received from the switch (`sent`, from the phone's RTCP receiver reports;
    None when it sent none)."""

    received: StreamQuality | None
    sent: StreamQuality | None


def stream_quality(
    loss_ratio: float, jitter_s: float | None, equipment: Equipment = G711_PLC
) -> StreamQuality:
    loss = min(max(loss_ratio, 0.0), 1.0)
    mos = estimate_mos(loss, 0.0 if jitter_s is None else jitter_s, equipment=equipment)
    return StreamQuality(loss, jitter_s, round(mos, 3))


def received_quality(packets: int, lost: int, jitter_units: float) -> StreamQuality | None:
    """RFC 3550 A.3 loss (lost / expected) and A.8 jitter of what a phone sent; None when it
    sent nothing."""
    expected = packets + max(lost, 0)
    if expected <= 0:
        return None
    return stream_quality(max(lost, 0) / expected, jitter_units / RTP_CLOCK_HZ)


@dataclass(frozen=True, slots=True)
class Report:
    """The parts of an RTCP report block (RFC 3550 §6.4.1) the figures need."""

    highest_sequence: int  # extended highest sequence number received
    cumulative_lost: int
    fraction_lost: int  # of the interval since the previous report, 0..255
    jitter: int  # RTP units


def reported_quality(first: Report | None, last: Report | None) -> StreamQuality | None:
    """Loss and jitter a phone reported about what it received, from its first and last RTCP
    report blocks about the switch's stream.

    With two reports the loss is that of the span between them (RFC 3550 §6.4.4: expected is
    the difference of the highest sequence numbers); with one, its fraction lost, which for a
    first report covers everything since the stream began."""
    if last is None:
        return None
    if first is not None and first.highest_sequence < last.highest_sequence:
        expected = last.highest_sequence - first.highest_sequence
        ratio = (last.cumulative_lost - first.cumulative_lost) / expected
    else:
        ratio = last.fraction_lost / 256.0
    return stream_quality(ratio, last.jitter / RTP_CLOCK_HZ)


def report_of(packet: bytes, ssrc: int | None) -> Report | None:
    """The report block about `ssrc` (the stream the switch sends; any block when None or
    when the only one names another SSRC) in an RTCP compound packet; None if it has none or
    does not parse."""
    try:
        compound = RtcpCompound.parse(packet)
    except RtcpParseError:
        return None
    blocks = [
        block
        for p in compound.packets
        if isinstance(p, SenderReport | ReceiverReport)
        for block in p.reports
    ]
    block = next((b for b in blocks if b.ssrc == ssrc), blocks[0] if len(blocks) == 1 else None)
    if block is None:
        return None
    return Report(block.highest_sequence, block.cumulative_lost, block.fraction_lost, block.jitter)
