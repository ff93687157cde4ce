"""Slowloris and connection floods on TCP and TLS, while UDP and a well-behaved client are served.

Every attacker comes from its own loopback address (127.0.0.3-5, on `lo` already), so the
per-source caps and the rate limit apply to it and not to the good clients on 127.0.0.1. Every
loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import sip_client
from running_switch import SOFTSWITCH, Switch, free_port, start_switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOCAL = "127.0.0.1"
PER_SOURCE = 8
MESSAGE_TIMEOUT_S = 2.0
IDLE_TIMEOUT_S = 4.0


def _options(port: int, local_port: int, transport: str) -> bytes:
    return (
        f"OPTIONS sip:{LOCAL}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {LOCAL}:{local_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{LOCAL}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{LOCAL}:{port}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}@{LOCAL}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _stream_options(sock: socket.socket, port: int, transport: str) -> int | None:
    sock.sendall(_options(port, sock.getsockname()[1], transport))
    data = b""
    deadline = time.monotonic() + 3.0
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65535)
        if not chunk:
            break
        data += chunk
    return sip_client.status_of(data)


def _closed_by_peer(sock: socket.socket, timeout_s: float) -> bool:
    """True when the switch closes the connection (EOF or reset) within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def _connect(source: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(2.0)
    sock.connect((LOCAL, port))
    return sock


def _served(sw: Switch) -> None:
    """UDP from 127.0.0.1 and a fresh well-behaved TCP client both get 200."""
    assert sip_client.options(sw.sip_port) == 200
    with _connect(LOCAL, sw.sip_port) as good:
        assert _stream_options(good, sw.sip_port, "TCP") == 200


@pytest.fixture
def guarded(tmp_path: Path, carrier_port: int) -> Switch:
    subprocess.run(
        [str(SOFTSWITCH), "cert", "--self-signed", str(tmp_path / "tls")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    sw = start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {
                "port": free_port(),
                "certificate": str(tmp_path / "tls" / "cert.pem"),
                "private_key": str(tmp_path / "tls" / "key.pem"),
            },
            "tcp": {
                "max_connections_per_source": PER_SOURCE,
                "max_connections": 64,
                "message_timeout_s": MESSAGE_TIMEOUT_S,
                "idle_timeout_s": IDLE_TIMEOUT_S,
            },
            "security": {"log_file": str(tmp_path / "security.log")},
        },
    )
    yield sw
    sw.stop()


def _tls_port(sw: Switch) -> int:
    return int(tomllib.loads(sw.config_path.read_text())["tls"]["port"])


def _security_log(tmp_path: Path) -> str:
    path = tmp_path / "security.log"
    return path.read_text() if path.exists() else ""


def _wait_log(tmp_path: Path, pattern: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = _security_log(tmp_path)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} in the security log:\n{text[-2000:]}")
        time.sleep(0.05)


def test_slowloris_connections_are_capped_and_cut_while_others_are_served(
    guarded: Switch, tmp_path: Path
) -> None:
    attacker = "127.0.0.3"
    slow: list[socket.socket] = []
    try:
        for _ in range(PER_SOURCE + 2):
            slow.append(_connect(attacker, guarded.sip_port))
        # The connections past the cap are closed at once.
        refused = [s for s in slow if _closed_by_peer(s, 0.5)]
        assert len(refused) == 2
        kept = [s for s in slow if s not in refused]
        message = _options(guarded.sip_port, 5060, "TCP")
        started = time.monotonic()
        cut: set[int] = set()
        # A byte every 0.2 s on each: never idle, never a complete message.
        for i in range(int((MESSAGE_TIMEOUT_S + 3.0) / 0.2)):
            for index, sock in enumerate(kept):
                if index in cut:
                    continue
                try:
                    sock.send(message[i : i + 1])
                except OSError:
                    cut.add(index)
            if len(cut) == len(kept):
                break
            if i % 5 == 0:
                _served(guarded)
            time.sleep(0.2)
        held_s = time.monotonic() - started
        still_open = [s for i, s in enumerate(kept) if i not in cut and not _closed_by_peer(s, 1.5)]
        assert not still_open, f"{len(still_open)} slow connections still open after {held_s} s"
        assert held_s < MESSAGE_TIMEOUT_S + 2.5
    finally:
        for sock in slow:
            sock.close()
    _served(guarded)
    text = _wait_log(tmp_path, rf"refused src={attacker} reason=slow-message", 5.0)
    assert re.search(rf"refused src={attacker} reason=connection-limit count=1 detail=", text)
    assert "src=127.0.0.1" not in text


def test_connection_flood_on_tcp_and_tls_leaves_udp_and_good_clients_served(
    guarded: Switch, tmp_path: Path
) -> None:
    tls_port = _tls_port(guarded)
    opened: list[socket.socket] = []
    silent_tls: list[socket.socket] = []
    try:
        # 200 TCP connections from one source as fast as it can, and 200 TLS connections that
        # never start their handshake from another.
        for source, port in (("127.0.0.4", guarded.sip_port), ("127.0.0.5", tls_port)):
            for _ in range(200):
                with contextlib.suppress(OSError):
                    opened.append(_connect(source, port))
        silent_tls = opened[-200:]
        started = time.monotonic()
        _served(guarded)
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
        with (
            _connect(LOCAL, tls_port) as raw,
            context.wrap_socket(raw, server_hostname=LOCAL) as good_tls,
        ):
            assert _stream_options(good_tls, tls_port, "TLS") == 200
        # Every silent TLS connection is closed by the switch: past the caps at once, the ones
        # it took once their handshake has waited message_timeout_s.
        assert all(_closed_by_peer(s, MESSAGE_TIMEOUT_S + 3.0) for s in silent_tls)
        assert time.monotonic() - started < MESSAGE_TIMEOUT_S + 3.0
    finally:
        for sock in opened:
            sock.close()
    text = _wait_log(tmp_path, r"refused src=127\.0\.0\.4 reason=connection-limit", 5.0)
    # TLS connections are counted from their TCP accept, before any handshake, and those that
    # never shake hands are cut with a line saying so.
    assert re.search(r"refused src=127\.0\.0\.5 reason=connection-limit", text), text[-2000:]
    text = _wait_log(tmp_path, r"refused src=127\.0\.0\.5 reason=tls-handshake", 5.0)
    assert "src=127.0.0.1" not in text
    _served(guarded)
    guarded.assert_running()
