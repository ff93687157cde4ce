"""A tiny SIP UAC over UDP for security tests: REGISTER with digest, OPTIONS, from any source."""

from __future__ import annotations

import re
import secrets
import socket

from softswitch.sip.digest import build_authorization, parse_challenge

LOCAL = "127.0.0.1"


def _request(method: str, port: int, local: tuple[str, int], user: str, extra: str = "") -> bytes:
    host, local_port = local
    tag = secrets.token_hex(4)
    return (
        f"{method} sip:{LOCAL}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{LOCAL}>;tag={tag}\r\n"
        f"To: <sip:{user}@{LOCAL}>\r\n"
        f"Call-ID: {secrets.token_hex(8)}@{host}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:{user}@{host}:{local_port}>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _exchange(sock: socket.socket, data: bytes, port: int) -> bytes | None:
    sock.sendto(data, (LOCAL, port))
    try:
        while True:
            reply = sock.recv(65535)
            if not reply.startswith(b"SIP/2.0 100 "):
                return reply
    except (TimeoutError, ConnectionRefusedError):
        return None


def status_of(reply: bytes | None) -> int | None:
    match = re.match(rb"SIP/2\.0 (\d{3}) ", reply or b"")
    return int(match.group(1)) if match else None


def register(
    port: int, user: str, password: str, source: str = LOCAL, timeout_s: float = 1.0
) -> int | None:
    """REGISTER from `source`, answering a 401 with digest; the final status, None if silent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout_s)
        local = (source, sock.getsockname()[1])
        reply = _exchange(sock, _request("REGISTER", port, local, user), port)
        if status_of(reply) != 401:
            return status_of(reply)
        assert reply is not None
        header = re.search(rb"\r\nWWW-Authenticate: *([^\r]*)", reply, re.IGNORECASE)
        assert header is not None, reply
        challenge = parse_challenge(header.group(1).decode())
        authorization = build_authorization(
            challenge,
            method="REGISTER",
            uri=f"sip:{LOCAL}:{port}",
            username=user,
            password=password,
            cnonce=secrets.token_hex(4),
            nc=1,
        )
        extra = f"Authorization: {authorization}\r\nExpires: 60\r\n"
        return status_of(_exchange(sock, _request("REGISTER", port, local, user, extra), port))


def options(port: int, source: str = LOCAL, timeout_s: float = 1.0) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout_s)
        local = (source, sock.getsockname()[1])
        return status_of(_exchange(sock, _request("OPTIONS", port, local, "probe"), port))
