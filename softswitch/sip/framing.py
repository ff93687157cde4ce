"""Framing SIP messages on stream transports (TCP, TLS): RFC 3261 §18.3 Content-Length
framing and RFC 5626 keepalives. Only bytes in and whole messages out; parsing is message.py's."""

from __future__ import annotations

import re

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import DEFAULT_MAX_MESSAGE_SIZE


class StreamFramer:
    """Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).

    CRLFs between messages are keepalives (RFC 5626 §4.4.1): `feed` counts each double-CRLF
    ping, even when its CRLFs arrive in separate reads, so the adapter can answer each with a
    single CRLF pong.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._crlf_run = 0  # CRLFs seen since the last message or ping

    @property
    def pending_bytes(self) -> int:
        """Bytes held of a message not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """Return complete messages and the number of keepalive pings seen."""
        self._buffer += data
        buf = self._buffer
        messages: list[bytes] = []
        pings = 0
        while buf:
            stripped = 0
            while buf[stripped : stripped + 2] == b"\r\n":
                stripped += 2
            if stripped:
                del buf[:stripped]
                self._crlf_run += stripped // 2
                pings += self._crlf_run // 2
                self._crlf_run %= 2
            if not buf or buf == b"\r":
                break  # nothing more, or the first half of a CRLF
            self._crlf_run = 0
            end = buf.find(b"\r\n\r\n")
            if end == -1:
                if len(buf) > self._max_size:
                    raise RemoteProtocolError("message too large", 513)
                break
            total = end + 4 + _content_length(bytes(buf[:end]))
            if total > self._max_size:
                raise RemoteProtocolError("message too large", 513)
            if len(buf) < total:
                break
            messages.append(bytes(buf[:total]))
            del buf[:total]
        return messages, pings


_CL_RE = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([0-9]+)[ \t]*\r?$", re.I | re.M
)


def _content_length(head: bytes) -> int:
    m = _CL_RE.search(head)
    if m is None:
        raise RemoteProtocolError("missing Content-Length on a stream transport")
    if len(m.group(1)) > 10:
        raise RemoteProtocolError("message too large", 513)
    return int(m.group(1))
