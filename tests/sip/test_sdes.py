"""softswitch/sip/sdes.py and the a=crypto lines in SDP (RFC 4568).

a=crypto lines come from the network inside every secure offer and answer, so besides the unit
tests there are property tests: no text raises anything but RemoteProtocolError (status 488), an
attribute that parses serialises into one that parses equal, and an SDP with any crypto lines
still parses (a bad line is skipped, RFC 4568 §7.1.2).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.sdes import (
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    KEY_SALT_BYTES,
    CryptoAttribute,
    accepted,
    choose,
    offer_lines,
)
from softswitch.sip.sdp import SessionDescription

KEY = bytes(range(30))
KEY_B64 = base64.b64encode(KEY).decode()
# What pjsua2 2.15 offers with SRTP mandatory (keys replaced by a known one).
PJSUA_OFFER = (
    "v=0\r\no=- 3917 3917 IN IP4 127.0.0.1\r\ns=pjmedia\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    f"a=crypto:1 AEAD_AES_256_GCM inline:{base64.b64encode(bytes(44)).decode()}\r\n"
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}\r\n"
    f"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B64}\r\n"
).encode()


def test_a_pjsua_offer_parses_and_the_first_usable_line_is_chosen() -> None:
    audio = SessionDescription.parse(PJSUA_OFFER).audio
    assert audio is not None and audio.secure and audio.profile == "RTP/SAVP"
    assert [(c.tag, c.suite) for c in audio.crypto] == [
        (1, "AEAD_AES_256_GCM"),
        (2, AES_CM_128_HMAC_SHA1_80),
        (3, AES_CM_128_HMAC_SHA1_32),
    ]
    chosen = choose(audio.crypto)
    assert chosen is not None and chosen.tag == 2 and chosen.key_salt == KEY
    answer = chosen.with_fresh_key()
    assert (answer.tag, answer.suite) == (2, AES_CM_128_HMAC_SHA1_80)
    assert len(answer.key_salt) == KEY_SALT_BYTES and answer.key_salt != KEY


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}", True),
        (f"7 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B64}|2^31", True),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^20|1:4", False),  # MKI
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64} UNENCRYPTED_SRTP", False),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64};inline:{KEY_B64}", False),
        (f"1 F8_128_HMAC_SHA1_80 inline:{KEY_B64}", False),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(bytes(16)).decode()}", False),
    ],
)
def test_what_the_switch_can_use(value: str, usable: bool) -> None:
    line = CryptoAttribute.parse(value)
    assert line.usable is usable
    assert CryptoAttribute.parse(line.serialize()) == line


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1 AES_CM_128_HMAC_SHA1_80",
        f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}",
        f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}",
        f"1 AES_CM_128_HMAC_SHA1_80 uri:{KEY_B64}",
        "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
        "1 AES_CM_128_HMAC_SHA1_80 inline:",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|2^x",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|1:4|2^20",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B64}|1|2|3",
        f"1 AES/CM inline:{KEY_B64}",
        "¹ AES_CM_128_HMAC_SHA1_80 inline:" + KEY_B64,
    ],
)
def test_malformed_lines_are_remote_errors_with_488(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        CryptoAttribute.parse(value)
    assert caught.value.status_hint == 488


def test_offer_and_answer_of_our_own() -> None:
    ours = offer_lines()
    assert [(c.tag, c.suite) for c in ours] == [
        (1, AES_CM_128_HMAC_SHA1_80),
        (2, AES_CM_128_HMAC_SHA1_32),
    ]
    assert len({c.key_salt for c in ours}) == 2 and all(c.usable for c in ours)
    answer = CryptoAttribute(2, AES_CM_128_HMAC_SHA1_32, KEY)
    assert accepted(ours, (answer,)) == (ours[1], answer)
    # A tag we never offered, or our tag with another suite, accepts nothing.
    assert accepted(ours, (CryptoAttribute(3, AES_CM_128_HMAC_SHA1_80, KEY),)) is None
    assert accepted(ours, (CryptoAttribute(1, AES_CM_128_HMAC_SHA1_32, KEY),)) is None
    assert accepted(ours, ()) is None


def test_serialised_sdp_carries_profile_and_crypto() -> None:
    sdp = SessionDescription.parse(PJSUA_OFFER)
    again = SessionDescription.parse(sdp.serialize())
    assert again.audio == sdp.audio
    assert b"m=audio 4000 RTP/SAVP 0 8 101\r\n" in sdp.serialize()


_TOKEN = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
_KEYS = st.binary(min_size=1, max_size=60).map(lambda b: base64.b64encode(b).decode())


@st.composite
def _crypto_values(draw: st.DrawFn) -> str:
    """Text shaped like an a=crypto value, mutated: most fail, some parse."""
    tag = draw(st.one_of(st.integers(0, 10**10).map(str), _TOKEN))
    suite = draw(st.sampled_from([AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, "X_1"]))
    method = draw(st.sampled_from(["inline", "INLINE", "uri", ""]))
    key = draw(st.one_of(_KEYS, _TOKEN))
    fields = draw(st.lists(st.one_of(_TOKEN, st.just("2^31"), st.just("1:4")), max_size=3))
    params = draw(st.lists(_TOKEN, max_size=2))
    value = " ".join([tag, suite, f"{method}:{key}" + "".join(f"|{f}" for f in fields), *params])
    cut = draw(st.integers(0, len(value)))
    return value if draw(st.booleans()) else value[:cut]


@settings(max_examples=400, deadline=None)
@given(st.one_of(_crypto_values(), st.text(max_size=80)))
def test_untrusted_crypto_values_raise_only_remote_errors_and_round_trip(value: str) -> None:
    try:
        line = CryptoAttribute.parse(value)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 488
        return
    assert CryptoAttribute.parse(line.serialize()) == line


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_crypto_values(), st.text(max_size=40)), max_size=20))
def test_any_crypto_lines_leave_the_sdp_parseable(values: list[str]) -> None:
    lines = "".join(f"a=crypto:{v}\r\n" for v in values if "\r" not in v and "\n" not in v)
    body = PJSUA_OFFER + lines.encode()
    try:
        sdp = SessionDescription.parse(body)
    except RemoteProtocolError:
        return  # e.g. a value that is not one SDP line; never anything else
    assert sdp.audio is not None and len(sdp.audio.crypto) <= 16
    assert SessionDescription.parse(sdp.serialize()).audio == sdp.audio
