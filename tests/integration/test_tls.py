"""SIP over TLS: phones register and call over TLS (tones checked), and outbound TLS to a trunk
checks the certificate and the host name unless the trunk relaxes it for a lab."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, Switch, free_port, start_switch

from softswitch.certificates import self_signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOCAL = "127.0.0.1"
RECORD_S = 2.5


def _tls_switch(
    tmp_path: Path, carrier_port: int, trunk: dict[str, object] | None = None, **tls: object
) -> Switch:
    cert, key = self_signed(tmp_path / "switch-tls")
    return start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {"port": free_port(), "certificate": str(cert), "private_key": str(key), **tls},
            "security": {"log_file": str(tmp_path / "security.log")},
        },
        trunks={"carrier": trunk} if trunk else None,
    )


def _tls_port(sw: Switch) -> int:
    return int(tomllib.loads(sw.config_path.read_text())["tls"]["port"])


@pytest.fixture
def tls_switch(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = _tls_switch(tmp_path, carrier_port)
    yield sw
    sw.stop()


def test_two_phones_register_and_call_over_tls_and_hear_each_others_tone(
    tls_switch: Switch, tmp_path: Path
) -> None:
    ca = tmp_path / "switch-tls" / "cert.pem"
    port = _tls_port(tls_switch)
    # Both phones verify the switch's certificate (and that it names 127.0.0.1) against the CA.
    alice = PjsuaPeer("1001", tmp_path, tls_ca=ca)
    bob = PjsuaPeer("1002", tmp_path, tls_ca=ca)
    try:
        alice.register(port, "1001", "demo-1001", transport="tls")
        bob.register(port, "1002", "demo-1002", transport="tls")
        alice_call = alice.call(f"sip:1002@{LOCAL}:{port};transport=tls")
        incoming = bob.wait_incoming(5.0)
        bob_call = incoming["call"]
        alice.play_and_record(
            alice_call, write_tone(tmp_path / "440.wav", 440.0, 5.0), tmp_path / "a.wav", RECORD_S
        )
        bob.play_and_record(
            bob_call, write_tone(tmp_path / "1000.wav", 1000.0, 5.0), tmp_path / "b.wav", RECORD_S
        )
        bob.send("answer", call=bob_call)
        alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
        alice.wait_event("recorded", RECORD_S + 5.0, call=alice_call)
        bob.wait_event("recorded", RECORD_S + 5.0, call=bob_call)
        alice.send("hangup", call=alice_call)
        bob.wait_bye(bob_call, 5.0)
    finally:
        alice.close()
        bob.close()
    assert dominant_frequency(tmp_path / "a.wav") == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(tmp_path / "b.wav") == pytest.approx(440.0, abs=15.0)
    assert voiced_seconds(tmp_path / "a.wav") > 1.5 and voiced_seconds(tmp_path / "b.wav") > 1.5
    # Signalling went over TLS both ways: bob got the switch's INVITE on its TLS connection.
    bob_log = bob.log_path.read_text(errors="replace")
    assert re.search(r"RX \d+ bytes Request msg INVITE/\S+ \(\S+\) from TLS 127\.0\.0\.1:", bob_log)
    alice_log = alice.log_path.read_text(errors="replace")
    assert re.search(r"TX \d+ bytes Request msg INVITE/\S+ \(\S+\) to TLS 127\.0\.0\.1:", alice_log)
    row = tls_switch.closed_cdr()
    assert row["disposition"] == DISPOSITION_ANSWERED


class _TlsTrunk:
    """A carrier's TLS port: accepts connections, records the request line of what comes."""

    def __init__(self, port: int, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.listener = socket.create_server((LOCAL, port))
        self.listener.settimeout(0.2)
        self.requests: list[str] = []
        self.handshake_errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(2.0)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    data = conn.recv(65535)
                    self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(str(exc))

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.requests or self.handshake_errors:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.listener.close()


@pytest.mark.parametrize(
    ("case", "names", "trust", "verify", "reaches"),
    [
        ("trusted CA, right name", (), True, True, True),
        ("unknown CA", (), False, True, False),
        ("trusted CA, another name", ("other.example",), True, True, False),
        ("lab trunk, checks relaxed", ("other.example",), False, False, True),
    ],
)
def test_outbound_tls_to_a_trunk_checks_certificate_and_host_name(
    tmp_path: Path,
    carrier_port: int,
    case: str,
    names: tuple[str, ...],
    trust: bool,
    verify: bool,
    reaches: bool,
) -> None:
    carrier_cert, carrier_key = self_signed(tmp_path / "carrier-tls", names, defaults=not names)
    far_end = _TlsTrunk(carrier_port, carrier_cert, carrier_key)
    extra = {"ca_file": str(carrier_cert)} if trust else {}
    sw = _tls_switch(tmp_path, carrier_port, {"transport": "tls", "tls_verify": verify}, **extra)
    phone = PjsuaPeer("1001", tmp_path)
    try:
        phone.register(sw.sip_port, "1001", "demo-1001")
        call = phone.call(f"sip:9123@{LOCAL}:{sw.sip_port}")
        far_end.wait(5.0)
        phone.send("hangup", call=call)
    finally:
        phone.close()
        far_end.close()
        sw.stop()
    if reaches:
        assert far_end.requests and far_end.requests[0].startswith("INVITE sips:123@"), case
    else:
        assert not far_end.requests, case
        security_log = (tmp_path / "security.log").read_text()
        assert re.search(r"tls-failed dst=127\.0\.0\.1 port=\d+ why=", security_log), security_log
