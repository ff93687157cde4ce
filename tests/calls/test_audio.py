"""calls/audio.py: the codec and packet time the engine uses for a leg, read from its SDP."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from softswitch.calls.audio import NoAgreedCodec, negotiated_codec
from softswitch.sip.sdp import AudioStream, Codec

PCMU, EVENTS = Codec(0, "PCMU", 8000), Codec(101, "telephone-event", 8000)


def _leg(codecs: tuple[Codec, ...], ptime_ms: int | None) -> Any:
    audio = AudioStream("127.0.0.1", 4000, codecs, "sendrecv", None, ptime_ms)
    return SimpleNamespace(id=1, inbound=False, sdp_shown=None, remote_audio=audio)


@pytest.mark.parametrize(
    ("ptime_ms", "sent_ms"), [(10, 10), (20, 20), (30, 30), (40, 40), (None, None), (25, None)]
)
def test_the_peer_s_ptime_is_what_the_engine_sends(
    ptime_ms: int | None, sent_ms: int | None
) -> None:
    codec = negotiated_codec(_leg((PCMU, EVENTS), ptime_ms))
    assert (codec.name, codec.payload_type, codec.event_payload_type) == ("PCMU", 0, 101)
    assert codec.ptime_ms == sent_ms  # None: follow the packets the peer sends


def test_a_leg_with_only_telephone_event_has_no_codec() -> None:
    with pytest.raises(NoAgreedCodec):
        negotiated_codec(_leg((EVENTS,), 20))
