"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for an audio-anchoring B2BUA.

The switch relays RTP without transcoding, so both legs of a call must agree on one codec: the
offer sent to the callee carries the caller's codecs that we support (PCMU, PCMA, telephone-event,
RFC 4733), and the caller's answer carries what the callee chose. Addresses are rewritten to the
switch's own RTP port on each side.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Self

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.sdes import SECURE_PROFILES, CryptoAttribute

DEFAULT_MAX_SDP_SIZE = 16384
MAX_CRYPTO_LINES = 16  # more SDES lines than this in one m-line are not read
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Static payload types of RFC 3551 §6 that the switch relays.
STATIC_CODECS = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000)}  # RFC 3551 §6
SUPPORTED_CODECS = frozenset({"PCMU", "PCMA", "G722", "TELEPHONE-EVENT"})
# Answering an offer whose direction is the key means answering the value (RFC 3264 §6.1).
ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


@dataclass(frozen=True, slots=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int
    fmtp: str | None = None

    @property
    def rtpmap(self) -> str:
        return f"{self.name}/{self.clock_rate}"


# What the switch can decode and encode, with RFC 3551's static payload types.
SWITCH_VOICE_CODECS = (Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000))


@dataclass(frozen=True, slots=True)
class AudioStream:
    """The first audio m-line of a session: where to send RTP and how."""

    address: str
    port: int
    codecs: tuple[Codec, ...]
    direction: str = "sendrecv"
    rtcp_port: int | None = None
    ptime_ms: int | None = None
    profile: str = "RTP/AVP"  # RTP/SAVP when SRTP is required (RFC 3711 §12)
    crypto: tuple[CryptoAttribute, ...] = ()  # SDES lines that parsed (RFC 4568)

    @property
    def secure(self) -> bool:
        """The m-line asks for SRTP (RTP/SAVP): a plain answer to it is no answer."""
        return self.profile in SECURE_PROFILES

    @property
    def on_hold(self) -> bool:
        """RFC 3264 §8.4 hold, and the RFC 2543 style c=0.0.0.0."""
        return self.direction in ("sendonly", "inactive") or self.address == "0.0.0.0"

    def codec_named(self, name: str) -> Codec | None:
        for codec in self.codecs:
            if codec.name.upper() == name.upper():
                return codec
        return None


@dataclass(slots=True)
class SessionDescription:
    origin_user: str = "-"
    session_id: int = 0
    session_version: int = 0
    origin_address: str = "0.0.0.0"
    session_name: str = "-"
    audio: AudioStream | None = None
    other_media: list[str] = field(default_factory=list)  # m= values of streams we decline
    audio_position: int = 0  # how many of other_media come before the audio m-line

    @classmethod
    def parse(cls, data: bytes, *, max_size: int = DEFAULT_MAX_SDP_SIZE) -> Self:
        if len(data) > max_size:
            raise RemoteProtocolError("SDP too large", 513)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError("SDP is not UTF-8", 400) from None
        sdp = cls()
        session_address: str | None = None
        media: list[_MediaSection] = []
        seen_version = False
        for raw in text.replace("\r\n", "\n").split("\n"):
            line = raw.strip()
            if not line:
                continue
            if len(line) < 2 or line[1] != "=":
                raise RemoteProtocolError(f"bad SDP line {line[:40]!r}", 400)
            kind, value = line[0], line[2:]
            if kind == "v":
                seen_version = True
                if value != "0":
                    raise RemoteProtocolError(f"unsupported SDP version {value!r}", 400)
            elif kind == "o":
                parts = value.split()
                if len(parts) != 6:
                    raise RemoteProtocolError("bad SDP o= line", 400)
                sdp.origin_user = parts[0]
                sdp.session_id = _int(parts[1], "o= session id")
                sdp.session_version = _int(parts[2], "o= version")
                sdp.origin_address = parts[5]
            elif kind == "s":
                sdp.session_name = value or "-"
            elif kind == "c":
                address = _connection_address(value)
                if media:
                    media[-1].address = address
                else:
                    session_address = address
            elif kind == "m":
                media.append(_MediaSection(value))
            elif kind == "a" and media:
                media[-1].attributes.append(value)
        if not seen_version:
            raise RemoteProtocolError("SDP without v= line", 400)
        for entry in media:
            m_line = entry.m_line
            parts = m_line.split()
            if len(parts) < 4:
                raise RemoteProtocolError(f"bad SDP m= line {m_line!r}", 400)
            if parts[0] != "audio" or sdp.audio is not None:
                sdp.other_media.append(m_line)
                continue
            audio_address = entry.address or session_address
            if audio_address is None:
                raise RemoteProtocolError("SDP audio without a connection address", 400)
            sdp.audio = _audio_stream(parts, audio_address, entry.attributes)
            sdp.audio_position = len(sdp.other_media)
        return sdp

    def serialize(self) -> bytes:
        """The description as SDP; an audio stream with no codec has no m= line to be written
        (RFC 4566 §5.14 wants a format), so asking for one is a LocalProtocolError."""
        if self.audio is not None and not self.audio.codecs:
            raise LocalProtocolError("an SDP audio stream needs at least one codec")
        ip_kind = "IP6" if ":" in self.origin_address else "IP4"
        lines = [
            "v=0",
            f"o={self.origin_user} {self.session_id} {self.session_version} IN {ip_kind} "
            f"{self.origin_address}",
            f"s={self.session_name}",
        ]
        audio = self.audio
        if audio is not None:
            c_kind = "IP6" if ":" in audio.address else "IP4"
            lines.append(f"c=IN {c_kind} {audio.address}")
        lines.append("t=0 0")
        # Media we do not anchor are declined (port 0), keeping m-line order (RFC 3264 §6).
        declined = [_declined(m_line) for m_line in self.other_media]
        position = min(self.audio_position, len(declined))
        lines.extend(declined[:position])
        if audio is not None:
            pts = " ".join(str(c.payload_type) for c in audio.codecs)
            lines.append(f"m=audio {audio.port} {audio.profile} {pts}")
            for codec in audio.codecs:
                lines.append(f"a=rtpmap:{codec.payload_type} {codec.rtpmap}")
                if codec.fmtp:
                    lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
            if audio.ptime_ms:
                lines.append(f"a=ptime:{audio.ptime_ms}")
            if audio.rtcp_port is not None:
                lines.append(f"a=rtcp:{audio.rtcp_port}")  # RFC 3605
            lines.append(f"a={audio.direction}")
            lines.extend(f"a=crypto:{line.serialize()}" for line in audio.crypto)
        lines.extend(declined[position:])
        return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(slots=True)
class _MediaSection:
    m_line: str
    address: str | None = None
    attributes: list[str] = field(default_factory=list)


def _declined(m_line: str) -> str:
    """An m= line with port 0; parse() made sure it has media, port, proto and a format."""
    kind, _port, proto, *formats = m_line.split()
    return f"m={kind} 0 {proto} {' '.join(formats)}"


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '²' and '٣', which int() refuses or reads."""
    return text.isascii() and text.isdigit()


def _int(text: str, what: str) -> int:
    if not _digits(text) or len(text) > 20:
        raise RemoteProtocolError(f"bad SDP {what} {text!r}", 400)
    return int(text)


def _connection_address(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise RemoteProtocolError(f"bad SDP c= line {value!r}", 400)
    address = parts[2].split("/")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise RemoteProtocolError(f"SDP address is not an IP address: {address!r}", 400) from None
    return address


def _audio_stream(parts: list[str], address: str, attrs: list[str]) -> AudioStream:
    port_text = parts[1].split("/")[0]
    if not _digits(port_text) or int(port_text) > 65535:
        raise RemoteProtocolError(f"bad SDP media port {parts[1]!r}", 400)
    rtpmaps: dict[int, tuple[str, int]] = {}
    fmtps: dict[int, str] = {}
    direction = "sendrecv"
    rtcp_port: int | None = None
    ptime: int | None = None
    crypto: list[CryptoAttribute] = []
    for attr in attrs:
        name, _, value = attr.partition(":")
        if name == "rtpmap":
            pt_text, _, enc = value.partition(" ")
            enc_name, _, rate_text = enc.partition("/")
            rate_text = rate_text.split("/")[0]
            if _digits(pt_text) and _digits(rate_text):
                rtpmaps[int(pt_text)] = (enc_name, int(rate_text))
        elif name == "fmtp":
            pt_text, _, params = value.partition(" ")
            if _digits(pt_text) and params.strip():  # "a=fmtp:120" alone says nothing
                fmtps[int(pt_text)] = params.strip()
        elif name in DIRECTIONS:
            direction = name
        elif name == "rtcp":
            port = value.split()[0] if value else ""
            if _digits(port) and 0 < int(port) <= 65535:
                rtcp_port = int(port)
        elif name == "ptime" and _digits(value) and int(value) > 0:  # 0 ms is no packet time
            ptime = int(value)
        elif name == "crypto" and len(crypto) < MAX_CRYPTO_LINES:
            # RFC 4568 §7.1.2: a line the answerer cannot use is ignored.
            with contextlib.suppress(RemoteProtocolError):
                crypto.append(CryptoAttribute.parse(value))
    codecs: list[Codec] = []
    for fmt in parts[3:]:
        if not _digits(fmt) or int(fmt) > 127:
            continue
        pt = int(fmt)
        if pt in rtpmaps:
            enc_name, rate = rtpmaps[pt]
        elif pt in STATIC_CODECS:
            enc_name, rate = STATIC_CODECS[pt]
        else:
            continue
        codecs.append(Codec(pt, enc_name, rate, fmtps.get(pt)))
    return AudioStream(
        address,
        int(port_text),
        tuple(codecs),
        direction,
        rtcp_port,
        ptime,
        profile=parts[2],
        crypto=tuple(crypto),
    )


def supported_codecs(stream: AudioStream) -> tuple[Codec, ...]:
    """The codecs of an offer that the relay can carry, in the offerer's order of preference."""
    return tuple(
        c for c in stream.codecs if c.name.upper() in SUPPORTED_CODECS and c.clock_rate == 8000
    )


def widened_offer(codecs: tuple[Codec, ...]) -> tuple[Codec, ...]:
    """`codecs` (an offer we carry on, in its order) followed by every voice codec the switch
    can transcode that it lacks, so a callee without the caller's codec can still answer.
    Static payload types (RFC 3551): G.722's SDP clock rate is 8000 (§4.5.2)."""
    names = {c.name.upper() for c in codecs}
    taken = {c.payload_type for c in codecs}
    extra = tuple(
        c for c in SWITCH_VOICE_CODECS if c.name not in names and c.payload_type not in taken
    )
    voice = tuple(c for c in codecs if c.name.upper() != "TELEPHONE-EVENT")
    events = tuple(c for c in codecs if c.name.upper() == "TELEPHONE-EVENT")
    return voice + extra + events


def has_voice_codec(codecs: tuple[Codec, ...]) -> bool:
    return any(c.name.upper() != "TELEPHONE-EVENT" for c in codecs)


def rewrite(
    sdp: SessionDescription,
    *,
    address: str,
    port: int,
    codecs: tuple[Codec, ...],
    direction: str,
    session_id: int,
    version: int,
) -> SessionDescription:
    """The same session as the switch shows it to the other leg: our address, our port."""
    assert sdp.audio is not None
    # Each leg's SRTP is its own (calls/srtp.py adds it): the other leg's keys never cross.
    audio = replace(
        sdp.audio,
        address=address,
        port=port,
        codecs=codecs,
        direction=direction,
        rtcp_port=None,
        profile="RTP/AVP",
        crypto=(),
    )
    return SessionDescription(
        origin_user="softswitch",
        session_id=session_id,
        session_version=version,
        origin_address=address,
        session_name="softswitch",
        audio=audio,
        other_media=list(sdp.other_media),
        audio_position=sdp.audio_position,
    )


def answer_codecs(offer: AudioStream) -> tuple[Codec, ...]:
    """What the switch answers when it terminates media itself (echo test): the first voice codec
    it supports, plus telephone-event when offered (RFC 3264 §6.1)."""
    supported = supported_codecs(offer)
    voice = [c for c in supported if c.name.upper() != "TELEPHONE-EVENT"]
    events = [c for c in supported if c.name.upper() == "TELEPHONE-EVENT"]
    return tuple(voice[:1] + events[:1])
