"""Two-leg calls through the switch whose SDP points at the relay scenario's RTP blasters.

A minimal UDP SIP UAC (towards the switch's loadgen trunk) and UAS (the switch's uas trunk),
enough of RFC 3261 for a B2BUA on loopback: INVITE with retransmission (§17.1.1.2), ACK for the
2xx (§13.2.2.4), BYE, and answers to what the switch sends the UAS. SIPp cannot do this part:
the blasters must learn the switch's media port of every leg, which is in SDP SIPp keeps.
Call i of the UAC offers A-side port `a_ports[i]`; the j-th INVITE reaching the UAS is answered
with B-side port `b_ports[j]`; `a_dests[i]` and `b_dests[j]` are the switch's ports for them.
"""

from __future__ import annotations

import re
import secrets
import select
import socket
import time
from dataclasses import dataclass, field

from bench.sipp import DIALLED_NUMBER as DIALLED

HOST = "127.0.0.1"
T1_S = 0.5  # RFC 3261 §17.1.1.1
MAX_INVITE_SENDS = 5
WINDOW = 32  # INVITEs in flight: the switch is loaded by the blast, not by call setup
_M_AUDIO = re.compile(rb"^m=audio (\d+) ", re.MULTILINE)
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}


class SipCallError(RuntimeError):
    """Calls could not be set up through the switch."""


@dataclass
class Message:
    start: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Message:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((_COMPACT.get(name, name), value.strip()))
        return cls(lines[0], headers, body)

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n == name), "")

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]

    @property
    def status(self) -> int:
        return int(self.start.split()[1]) if self.start.startswith("SIP/2.0 ") else 0

    @property
    def method(self) -> str:
        return self.header("cseq").split()[-1] if self.header("cseq") else ""

    def media_port(self) -> int | None:
        match = _M_AUDIO.search(self.body)
        return int(match.group(1)) if match else None


def sdp(port: int) -> bytes:
    return (
        f"v=0\r\no=bench 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode()


def _serialize(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [start, *(f"{n}: {v}" for n, v in headers)]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class _Call:
    index: int
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@bench")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    branch: str = field(default_factory=lambda: "z9hG4bK" + secrets.token_hex(6))
    sends: int = 0
    next_send: float = 0.0
    to: str = ""
    target: str = ""
    answered: bool = False
    failed: bool = False
    ended: bool = False


class CallPair:
    """Sets up and tears down `len(a_ports)` calls from our UAC through the switch to our UAS."""

    def __init__(
        self,
        switch_port: int,
        uas_port: int,
        a_ports: list[int],
        b_ports: list[int],
        numbers: list[str] | None = None,
    ):
        """`numbers[i]` is what call i dials (default 7000, the uas trunk's number); a call to
        a conference room has no B leg, so `b_ports` may be empty."""
        self.switch = (HOST, switch_port)
        self.numbers = numbers or [DIALLED] * len(a_ports)
        self.uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.uac.bind((HOST, 0))
        self.uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.uas.bind((HOST, uas_port))
        for s in (self.uac, self.uas):
            s.setblocking(False)
        self.uac_port = self.uac.getsockname()[1]
        self.a_ports, self.b_ports = a_ports, b_ports
        self.calls = [_Call(i) for i in range(len(a_ports))]
        self.by_id = {c.call_id: c for c in self.calls}
        self.a_dests: list[int] = [0] * len(a_ports)
        self.b_dests: list[int] = []
        self.uas_answers: dict[str, bytes] = {}  # Call-ID -> our 200 for a retransmitted INVITE

    def close(self) -> None:
        self.uac.close()
        self.uas.close()

    @property
    def established(self) -> int:
        return sum(c.answered for c in self.calls)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.calls)

    def setup(self, deadline_s: float) -> None:
        """Place every call; raises SipCallError unless all are answered before the deadline."""
        stop = time.monotonic() + deadline_s
        waiting = list(reversed(self.calls))
        while time.monotonic() < stop:
            now = time.monotonic()
            in_flight = [c for c in self.calls if c.sends and not (c.answered or c.failed)]
            while waiting and len(in_flight) < WINDOW:
                in_flight.append(waiting.pop())
            if not waiting and not in_flight:
                break
            for call in in_flight:
                if call.next_send <= now:
                    if call.sends >= MAX_INVITE_SENDS:
                        call.failed = True
                        continue
                    self._send_invite(call)
                    call.next_send = now + T1_S * 2**call.sends
                    call.sends += 1
            self._pump(0.02)
        if self.established != len(self.calls):
            raise SipCallError(
                f"{self.established} of {len(self.calls)} calls answered through the switch "
                f"({self.failed} failed) within {deadline_s:.0f} s"
            )

    def hangup(self, deadline_s: float) -> int:
        """BYE every answered call; returns how many were not confirmed ended by the deadline."""
        stop = time.monotonic() + deadline_s
        live = [c for c in self.calls if c.answered]
        next_bye = dict.fromkeys((c.call_id for c in live), 0.0)
        while time.monotonic() < stop and any(not c.ended for c in live):
            now = time.monotonic()
            sent = 0
            for call in live:
                if not call.ended and next_bye[call.call_id] <= now and sent < WINDOW:
                    self._send_bye(call)
                    next_bye[call.call_id] = now + 2 * T1_S
                    sent += 1
            self._pump(0.02)
        self._pump(0.05)  # the switch's BYEs towards the UAS still in flight
        return sum(not c.ended for c in live)

    def _send_invite(self, call: _Call) -> None:
        uri = f"sip:{self.numbers[call.index]}@{HOST}:{self.switch[1]}"
        headers = [
            *self._dialog_headers(call, call.branch, f"<{uri}>"),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:bench@{HOST}:{self.uac_port}>"),
            ("Max-Forwards", "70"),
        ]
        start = f"INVITE {uri} SIP/2.0"
        self.uac.sendto(_serialize(start, headers, sdp(self.a_ports[call.index])), self.switch)

    def _dialog_headers(self, call: _Call, branch: str, to: str) -> list[tuple[str, str]]:
        return [
            ("Via", f"SIP/2.0/UDP {HOST}:{self.uac_port};branch={branch};rport"),
            ("From", f"<sip:bench@{HOST}:{self.uac_port}>;tag={call.from_tag}"),
            ("To", to),
            ("Call-ID", call.call_id),
        ]

    def _send_in_dialog(self, call: _Call, method: str, cseq: int) -> None:
        branch = "z9hG4bK" + secrets.token_hex(6)
        headers = [
            *self._dialog_headers(call, branch, call.to),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
        ]
        self.uac.sendto(_serialize(f"{method} {call.target} SIP/2.0", headers), self.switch)

    def _send_bye(self, call: _Call) -> None:
        self._send_in_dialog(call, "BYE", 2)

    def _pump(self, timeout_s: float) -> None:
        readable, _, _ = select.select([self.uac, self.uas], [], [], timeout_s)
        for sock in readable:
            while True:
                try:
                    data, addr = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                message = Message.parse(data)
                if sock is self.uac:
                    self._on_uac(message, addr)
                else:
                    self._on_uas(message, addr)

    def _on_uac(self, message: Message, addr: tuple[str, int]) -> None:
        call = self.by_id.get(message.header("call-id"))
        if not message.status:  # a request from the switch to our UAC (its BYE, OPTIONS)
            self.uac.sendto(self._reply(message, 200), addr)
            if call is not None and message.start.startswith("BYE"):
                call.ended = True
            return
        if call is None or message.status < 200:
            return
        if message.method == "BYE":
            call.ended = True
            return
        if message.method != "INVITE":
            return
        if message.status >= 300:
            call.failed = True  # the INVITE transaction ACKs non-2xx hop by hop (§17.1.1.3)
            to = message.header("to")
            headers = [*self._dialog_headers(call, call.branch, to), ("CSeq", "1 ACK")]
            start = f"ACK sip:{self.numbers[call.index]}@{HOST}:{self.switch[1]} SIP/2.0"
            self.uac.sendto(_serialize(start, headers), self.switch)
            return
        if not call.answered:
            port = message.media_port()
            contact = re.search(r"<([^>]+)>", message.header("contact"))
            if port is None or contact is None:
                call.failed = True
                return
            call.to = message.header("to")
            call.target = contact.group(1)
            self.a_dests[call.index] = port
            call.answered = True
        self._send_in_dialog(call, "ACK", 1)  # each 2xx, retransmissions too (§13.2.2.4)

    def _on_uas(self, message: Message, addr: tuple[str, int]) -> None:
        if message.status:
            return
        method = message.start.split()[0]
        call_id = message.header("call-id")
        if method == "INVITE":
            answer = self.uas_answers.get(call_id)
            if answer is None:
                port = message.media_port()
                j = len(self.b_dests)
                if port is None or j >= len(self.b_ports):
                    self.uas.sendto(self._reply(message, 488), addr)
                    return
                self.b_dests.append(port)
                body = sdp(self.b_ports[j])
                answer = self.uas_answers[call_id] = self._reply(message, 200, body)
            self.uas.sendto(answer, addr)
        elif method != "ACK":
            self.uas.sendto(self._reply(message, 200), addr)

    def _reply(self, request: Message, status: int, body: bytes = b"") -> bytes:
        to = request.header("to")
        if ";tag=" not in to:
            to += ";tag=" + secrets.token_hex(4)
        headers = [("Via", v) for v in request.all("via")]
        headers += [
            ("From", request.header("from")),
            ("To", to),
            ("Call-ID", request.header("call-id")),
            ("CSeq", request.header("cseq")),
            ("Contact", f"<sip:bench@{HOST}:{self.uas.getsockname()[1]}>"),
        ]
        reason = {200: "OK", 488: "Not Acceptable Here"}[status]
        return _serialize(f"SIP/2.0 {status} {reason}", headers, body)
