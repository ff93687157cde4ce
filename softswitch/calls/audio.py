"""What the media engine needs to know about a leg: the codec its SDP agreed and how to listen
for its digits. Pure: reads the leg's SDP and the config, touches no socket.

The codec in use is the first voice codec of the answer: for a leg the switch answered
(inbound), our SDP toward it (`sdp_shown`); for a leg the switch called, the peer's answer.
RFC 3264 §6.1 lets the answerer list several, but the first is what it sends. The packets sent
to the peer follow the peer's own `a=ptime` (RFC 4566 §6: what it wants to receive), or without
one the packets it sends (media/engine_leg.py).
"""

from __future__ import annotations

from softswitch.calls.call import Call
from softswitch.calls.leg import Leg
from softswitch.config import Config, DtmfMode, Extension, HoldMode, Trunk
from softswitch.media.engine_leg import DtmfDetection, LegCodec, packet_ms
from softswitch.sip.sdp import Codec

TELEPHONE_EVENT = "TELEPHONE-EVENT"


class NoAgreedCodec(LookupError):
    """The leg's SDP agreed no voice codec the engine has; status_hint 488."""

    status_hint = 488


def agreed_codecs(leg: Leg) -> tuple[Codec, ...]:
    if leg.inbound and leg.sdp_shown is not None:
        return leg.sdp_shown[0]
    if leg.remote_audio is not None:
        return leg.remote_audio.codecs
    return ()


def negotiated_codec(leg: Leg) -> LegCodec:
    codecs = agreed_codecs(leg)
    voice = next((c for c in codecs if c.name.upper() != TELEPHONE_EVENT), None)
    if voice is None:
        raise NoAgreedCodec(f"leg {leg.id} agreed no voice codec")
    events = next((c for c in codecs if c.name.upper() == TELEPHONE_EVENT), None)
    ptime = None if leg.remote_audio is None else leg.remote_audio.ptime_ms
    return LegCodec(
        voice.name.upper(),
        voice.payload_type,
        None if events is None else events.payload_type,
        packet_ms(ptime),
    )


def party_of(config: Config, call: Call, leg: Leg) -> Trunk | Extension | None:
    """The trunk or extension behind the leg (None when neither is configured)."""
    trunk_name = leg.trunk.name if leg.trunk is not None else None
    if trunk_name is None and leg is call.caller_leg:
        trunk_name = call.trunk
    if trunk_name is not None:
        return next((t for t in config.trunks if t.name == trunk_name), None)
    number = call.caller if leg is call.caller_leg else call.callee
    return next((e for e in config.extensions if e.number == number), None)


def dtmf_mode(config: Config, call: Call, leg: Leg) -> DtmfMode:
    """The `dtmf` setting of the trunk or extension behind the leg (auto when unknown)."""
    party = party_of(config, call, leg)
    return party.dtmf if party is not None else DtmfMode.AUTO


def hold_mode(config: Config, call: Call, leg: Leg) -> HoldMode:
    """The `hold` setting of the trunk or extension behind the leg (moh when unknown)."""
    party = party_of(config, call, leg)
    return party.hold if party is not None else HoldMode.MOH


def detection_for(mode: DtmfMode, codec: LegCodec) -> DtmfDetection | None:
    """How the engine listens, or None for INFO only."""
    if mode is DtmfMode.INFO:
        return None
    if mode is DtmfMode.INBAND or (mode is DtmfMode.AUTO and codec.event_payload_type is None):
        return DtmfDetection.INBAND
    return DtmfDetection.RFC4733
