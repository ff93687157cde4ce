"""A party whose SRTP is mandatory may not fall back to plain RTP in a re-INVITE.

A small SIP client over TLS (1001, `srtp = "mandatory"`) calls the echo test 9196 with SDES,
then re-offers plain RTP/AVP: the switch answers 488 with a Warning and keeps the call and its
keys, and a later re-offer with a=crypto is answered 200 on RTP/SAVP with a crypto line.
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
import tomllib
from pathlib import Path

import pytest
from running_switch import DISPOSITION_ANSWERED, Switch, free_port, start_switch

from softswitch.certificates import self_signed
from softswitch.sip.digest import build_authorization, parse_challenge
from softswitch.sip.sdes import AES_CM_128_HMAC_SHA1_80, KEY_SALT_BYTES, CryptoAttribute

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

LOCAL = "127.0.0.1"
ECHO = "9196"


class TlsUac:
    """One dialog of a SIP UAC over a TLS connection; responses read by Content-Length."""

    def __init__(self, port: int, user: str) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the switch's lab certificate is self-signed
        raw = socket.create_connection((LOCAL, port), timeout=5.0)
        self.sock = context.wrap_socket(raw)
        self.port = port
        self.user = user
        self.local = self.sock.getsockname()
        self.buffer = b""
        self.call_id = f"{secrets.token_hex(8)}@{LOCAL}"
        self.tag = secrets.token_hex(4)
        self.to_tag: str | None = None
        self.cseq = 0
        self.uri = f"sip:{ECHO}@{LOCAL}:{port};transport=tls"

    def register(self, password: str) -> None:
        """REGISTER this connection's contact (the switch knows 1001 by it), with digest."""
        call_id, tag, uri = f"{secrets.token_hex(8)}@{LOCAL}", secrets.token_hex(4), self.uri
        extra = ""
        for cseq in (1, 2):
            head = (
                f"REGISTER sip:{LOCAL}:{self.port};transport=tls SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS {self.local[0]}:{self.local[1]};branch=z9hG4bK"
                f"{secrets.token_hex(8)};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{self.user}@{LOCAL}>;tag={tag}\r\n"
                f"To: <sip:{self.user}@{LOCAL}>\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: {cseq} REGISTER\r\n"
                f"Contact: <sip:{self.user}@{self.local[0]}:{self.local[1]};transport=tls>\r\n"
                f"Expires: 60\r\n{extra}Content-Length: 0\r\n\r\n"
            )
            self.sock.sendall(head.encode())
            status, text, _ = self.response(keep_tag=False)
            if status == 200:
                return
            assert status == 401 and cseq == 1, text
            challenge = re.search(r"\r\nWWW-Authenticate: *([^\r]*)", text, re.IGNORECASE)
            assert challenge is not None, text
            uri = f"sip:{LOCAL}:{self.port};transport=tls"
            value = build_authorization(
                parse_challenge(challenge.group(1)), method="REGISTER", uri=uri,
                username=self.user, password=password, cnonce=secrets.token_hex(4), nc=1,
            )  # fmt: skip
            extra = f"Authorization: {value}\r\n"

    def request(self, method: str, body: bytes = b"", extra: str = "", branch: str = "") -> str:
        """Send a request of the dialog; its branch."""
        if method != "ACK":
            self.cseq += 1
        branch = branch or f"z9hG4bK{secrets.token_hex(8)}"
        to = f"<sip:{ECHO}@{LOCAL}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        content = "Content-Type: application/sdp\r\n" if body else ""
        head = (
            f"{method} {self.uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {self.local[0]}:{self.local[1]};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{self.user}@{LOCAL}>;tag={self.tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {self.cseq} {method}\r\n"
            f"Contact: <sip:{self.user}@{self.local[0]}:{self.local[1]};transport=tls>\r\n"
            f"{extra}{content}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        return branch

    def response(self, *, keep_tag: bool = True) -> tuple[int, str, bytes]:
        """The next final response: status, head, body (1xx skipped)."""
        while True:
            while b"\r\n\r\n" not in self.buffer:
                self._read()
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            size = int(length.group(1)) if length else 0
            while len(rest) < size:
                self._read()
                head, rest = self.buffer.split(b"\r\n\r\n", 1)
            body, self.buffer = rest[:size], rest[size:]
            text = head.decode()
            if not text.startswith("SIP/2.0 "):
                continue  # a request from the switch: not expected in this dialog
            status = int(text.split(" ", 2)[1])
            if status >= 200:
                tag = re.search(r"\r\nTo:[^\r]*;tag=([^;\r]+)", text, re.IGNORECASE)
                if tag and keep_tag and self.to_tag is None:
                    self.to_tag = tag.group(1)
                return status, text, body

    def _read(self) -> None:
        chunk = self.sock.recv(65535)
        assert chunk, "the switch closed the TLS connection"
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _sdp(version: int, *, profile: str, crypto: CryptoAttribute | None) -> bytes:
    line = f"a=crypto:{crypto.serialize()}\r\n" if crypto else ""
    return (
        "v=0\r\n"
        f"o=- 42 {version} IN IP4 {LOCAL}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {LOCAL}\r\n"
        "t=0 0\r\n"
        f"m=audio 40000 {profile} 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        f"{line}a=sendrecv\r\n"
    ).encode()


def _switch(tmp_path: Path, carrier_port: int) -> Switch:
    cert, key = self_signed(tmp_path / "switch-tls")
    return start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {"port": free_port(), "certificate": str(cert), "private_key": str(key)},
        },
        extensions={"1001": {"srtp": "mandatory", "record": False}},
    )


def _crypto_lines(body: bytes) -> list[str]:
    return re.findall(r"a=crypto:([^\r\n]+)", body.decode())


def test_a_plain_reinvite_from_a_mandatory_party_gets_488_and_the_call_keeps_srtp(
    tmp_path: Path, carrier_port: int
) -> None:
    sw = _switch(tmp_path, carrier_port)
    port = int(tomllib.loads(sw.config_path.read_text())["tls"]["port"])
    ours = CryptoAttribute(1, AES_CM_128_HMAC_SHA1_80, secrets.token_bytes(KEY_SALT_BYTES))
    uac = TlsUac(port, "1001")
    try:
        uac.register("demo-1001")
        offer = _sdp(1, profile="RTP/SAVP", crypto=ours)
        branch = uac.request("INVITE", offer)
        status, head, _ = uac.response()
        assert status == 407, head
        uac.request("ACK", branch=branch)
        uac.to_tag = None
        challenge = re.search(r"\r\nProxy-Authenticate: *([^\r]*)", head, re.IGNORECASE)
        assert challenge is not None, head
        authorization = build_authorization(
            parse_challenge(challenge.group(1)),
            method="INVITE",
            uri=uac.uri,
            username="1001",
            password="demo-1001",
            cnonce=secrets.token_hex(4),
            nc=1,
        )
        uac.request("INVITE", offer, extra=f"Proxy-Authorization: {authorization}\r\n")
        status, head, answer = uac.response()
        assert status == 200, head
        assert "m=audio" in answer.decode() and " RTP/SAVP " in answer.decode(), answer
        (first,) = _crypto_lines(answer)
        uac.request("ACK")

        # Plain RTP in a re-INVITE: refused, nothing changes.
        branch = uac.request("INVITE", _sdp(2, profile="RTP/AVP", crypto=None))
        status, head, _ = uac.response()
        assert status == 488, head
        assert re.search(r"\r\nWarning: 399 [^\r]*SRTP is mandatory", head), head
        uac.request("ACK", branch=branch)

        # A crypto line with a suite the switch does not carry is refused the same way.
        unknown = f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{'A' * 40}\r\n".encode()
        branch = uac.request("INVITE", _sdp(3, profile="RTP/SAVP", crypto=None) + unknown)
        status, head, _ = uac.response()
        assert status == 488, head
        uac.request("ACK", branch=branch)

        # The same key again: answered on RTP/SAVP with the switch's key kept (RFC 4568 §7.1.4).
        uac.request("INVITE", _sdp(4, profile="RTP/SAVP", crypto=ours))
        status, head, again = uac.response()
        assert status == 200, head
        assert " RTP/SAVP " in again.decode() and _crypto_lines(again) == [first], again
        uac.request("ACK")

        uac.request("BYE")
        status, head, _ = uac.response()
        assert status == 200, head
    finally:
        uac.close()
        cdr = sw.closed_cdr()
        sw.stop()
    assert cdr["disposition"] == DISPOSITION_ANSWERED
