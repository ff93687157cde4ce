"""rtpengine-daemon alone, forwarding in userspace, driven over its ng control protocol.

The relay scenario sets up sessions as Kamailio's rtpengine module would, without Kamailio:
`offer` with the caller's SDP gives the port the callee sends to, `answer` with the callee's SDP
gives the port the caller sends to. The ng protocol is a cookie, a space and a bencoded
dictionary over UDP; the reply echoes the cookie.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from bench.peers.base import READY_DEADLINE_S, Peer, PeerError, free_port, free_port_range
from bench.programs import RTPENGINE

PORTS = 8000
NG_TIMEOUT_S = 1.0
NG_TRIES = 3
_M_AUDIO = re.compile(r"^m=audio (\d+) ", re.MULTILINE)

Bencodable = int | str | bytes | list[Any] | dict[str, Any]


def bencode(value: Bencodable) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items())) + b"e"


def bdecode(data: bytes) -> Any:
    """Decodes one bencoded value; byte strings come back as str (ng replies are text)."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes after bencoded value at {end}")
    return value


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    kind = data[at : at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        items: list[Any] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        if kind == b"l":
            return items, at + 1
        return dict(zip(items[::2], items[1::2], strict=True)), at + 1
    colon = data.index(b":", at)
    length = int(data[at:colon])
    start = colon + 1
    return data[start : start + length].decode("utf-8", "replace"), start + length


def media_port(sdp: str) -> int:
    match = _M_AUDIO.search(sdp)
    if match is None:
        raise PeerError(f"rtpengine returned SDP without an audio port: {sdp!r}")
    return int(match.group(1))


class Rtpengine(Peer):
    """rtpengine in userspace (`--table=-1`: no kernel forwarding) on 127.0.0.1."""

    name = "rtpengine"
    anchors_media = True
    programs = (RTPENGINE,)

    def __init__(self, workdir: Path, uas_port: int = 0) -> None:
        super().__init__(workdir, uas_port)
        self.ng_port = free_port()
        self._ng: socket.socket | None = None

    def start(self) -> None:
        low, high = free_port_range(PORTS)
        command = [
            RTPENGINE.command, "--config-file=none", "--foreground", "--table=-1",
            "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{self.ng_port}",
            f"--port-min={low}", f"--port-max={high}", "--log-stderr", "--log-level=4",
            f"--pidfile={self.workdir / 'rtpengine.pid'}",
        ]  # fmt: skip
        self.spawn(command, "rtpengine.log")
        self._ng = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._ng.bind(("127.0.0.1", 0))
        stop = time.monotonic() + READY_DEADLINE_S
        while time.monotonic() < stop:
            self.check_alive()
            try:
                if self.command({"command": "ping"}).get("result") == "pong":
                    return
            except PeerError:
                continue
        raise PeerError(f"rtpengine did not answer ping within {READY_DEADLINE_S:.0f} s")

    def stop(self) -> None:
        if self._ng is not None:
            self._ng.close()
            self._ng = None
        super().stop()

    def command(self, fields: dict[str, Any]) -> dict[str, Any]:
        """One ng request and its reply; a lost datagram is resent (replies repeat per cookie)."""
        assert self._ng is not None
        cookie = secrets.token_hex(6).encode()
        request = cookie + b" " + bencode(fields)
        self._ng.settimeout(NG_TIMEOUT_S / NG_TRIES)
        for _ in range(NG_TRIES):
            self._ng.sendto(request, ("127.0.0.1", self.ng_port))
            try:
                while True:
                    data = self._ng.recv(65535)
                    if data.startswith(cookie + b" "):
                        reply: dict[str, Any] = bdecode(data[len(cookie) + 1 :])
                        return reply
            except (TimeoutError, ConnectionRefusedError):
                continue
        raise PeerError(f"rtpengine did not answer {fields.get('command')} in {NG_TIMEOUT_S} s")

    def _sdp_command(self, fields: dict[str, Any]) -> int:
        reply = self.command(fields)
        if reply.get("result") != "ok":
            raise PeerError(f"rtpengine {fields['command']}: {reply}")
        return media_port(str(reply["sdp"]))

    def offer(self, call_id: str, from_tag: str, sdp: str) -> int:
        """The caller's SDP in; the port rtpengine gives the callee to send to."""
        fields = {"command": "offer", "call-id": call_id, "from-tag": from_tag, "sdp": sdp}
        return self._sdp_command(fields)

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> int:
        """The callee's SDP in; the port rtpengine gives the caller to send to."""
        fields = {
            "command": "answer", "call-id": call_id, "from-tag": from_tag, "to-tag": to_tag,
            "sdp": sdp,
        }  # fmt: skip
        return self._sdp_command(fields)

    def delete(self, call_id: str, from_tag: str) -> None:
        self.command({"command": "delete", "call-id": call_id, "from-tag": from_tag})

    @staticmethod
    def version() -> str:
        return RTPENGINE.version(["--version"], r"Version: (\S+)")
