"""A gateway call placed by hand, with RTP whose loss the test chooses: INVITE from 127.0.0.1
(the demo config's gateway trunk), our own RTP socket in the SDP, ACK, a tone sent at 20 ms with
some sequence numbers never sent (a lossy path the switch cannot tell from a real one), BYE.
Loops are bounded in count and time; everything stays on loopback."""

from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass, field

import numpy as np

from softswitch_codecs.g711 import ulaw_encode

LOCAL = "127.0.0.1"
FRAME_S = 0.02


@dataclass
class GatewayCall:
    sip_port: int  # the switch's
    number: str
    sip: socket.socket = field(init=False)
    rtp: socket.socket = field(init=False)
    call_id: str = field(default_factory=lambda: f"{secrets.token_hex(8)}@{LOCAL}")
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    to_tag: str = ""
    remote_rtp: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((LOCAL, 0))
        self.sip.settimeout(0.2)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((LOCAL, 0))
        self.rtp.setblocking(False)

    def _headers(self, method: str, cseq: int, branch: str | None = None) -> str:
        port = self.sip.getsockname()[1]
        to = f"<sip:{self.number}@{LOCAL}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        return (
            f"{method} sip:{self.number}@{LOCAL}:{self.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCAL}:{port};branch={branch or 'z9hG4bK' + secrets.token_hex(8)}"
            ";rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:+15550100@{LOCAL}>;tag={self.tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:gw@{LOCAL}:{port}>\r\n"
        )

    def _send(self, head: str, body: bytes = b"", content_type: str = "") -> None:
        extra = f"Content-Type: {content_type}\r\n" if content_type else ""
        message = f"{head}{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body
        self.sip.sendto(message, (LOCAL, self.sip_port))

    def invite(self) -> None:
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=gw 1 1 IN IP4 {LOCAL}\r\ns=-\r\nc=IN IP4 {LOCAL}\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        ).encode()
        self._send(self._headers("INVITE", 1), sdp, "application/sdp")

    def _final(self, method: str, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                data = self.sip.recv(65535)
            except TimeoutError:
                continue
            if data.startswith(b"SIP/2.0 ") and f" {method}\r\n".encode() in data:
                status = int(data[8:11])
                if status >= 200:
                    return data
        raise AssertionError(f"no final response to {method} in {timeout_s} s")

    def wait_answer(self, timeout_s: float = 10.0) -> None:
        """The 200 OK: its To tag, our RTP's destination from its SDP; then ACK."""
        answer = self._final("INVITE", timeout_s)
        assert answer.startswith(b"SIP/2.0 200 "), answer[:80]
        tag = re.search(rb"\r\nTo:[^\r]*;tag=([^;\r\s]+)", answer, re.IGNORECASE)
        host = re.search(rb"\r\nc=IN IP4 (\S+)", answer)
        port = re.search(rb"\r\nm=audio (\d+) ", answer)
        assert tag and host and port, answer
        self.to_tag = tag.group(1).decode()
        self.remote_rtp = (host.group(1).decode(), int(port.group(1)))
        self._send(self._headers("ACK", 1))

    def send_tone(self, seconds: float, freq_hz: float, skip_every: int = 0) -> tuple[int, int]:
        """Send `seconds` of a tone at 20 ms, paced to a fixed schedule; with `skip_every` = n
        every n-th packet is never sent. Returns (sent, skipped)."""
        assert self.remote_rtp is not None
        count = round(seconds / FRAME_S)
        t = np.arange(count * 160) / 8000.0
        audio = ulaw_encode(np.rint(8000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16))
        ssrc, seq0, ts0 = secrets.randbits(32), secrets.randbits(15), secrets.randbits(31)
        start, sent, skipped = time.monotonic(), 0, 0
        for i in range(count):
            delay = start + i * FRAME_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._drain()
            if skip_every and i % skip_every == skip_every // 2:
                skipped += 1
                continue
            header = bytes([0x80, 0x80 if i == 0 else 0x00])
            header += ((seq0 + i) & 0xFFFF).to_bytes(2, "big")
            header += ((ts0 + 160 * i) & 0xFFFFFFFF).to_bytes(4, "big")
            header += ssrc.to_bytes(4, "big")
            self.rtp.sendto(header + audio[160 * i : 160 * (i + 1)].tobytes(), self.remote_rtp)
            sent += 1
        return sent, skipped

    def _drain(self) -> None:
        """Read what the switch sends us (it must not pile up in the socket)."""
        for _ in range(20):
            try:
                self.rtp.recv(2048)
            except BlockingIOError:
                return

    def bye(self, timeout_s: float = 5.0) -> None:
        self._send(self._headers("BYE", 2))
        final = self._final("BYE", timeout_s)
        assert final.startswith(b"SIP/2.0 200 "), final[:80]

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()
