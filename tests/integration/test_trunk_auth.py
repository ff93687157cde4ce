"""Outbound trunk authentication: the switch answers a carrier's 407 once with the trunk's digest.

Also home of what the other SIPp-driven tests (test_hold, test_early_media, test_faults,
test_registration) share: a switch whose `gateway` trunk can dial the `carrier` trunk, the
scenarios folder, and a parser of SIPp's message trace. They belong in running_switch.py and
sipp_process.py (owned elsewhere); until they move there, they live here.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from running_switch import (
    DISPOSITION_ANSWERED,
    HANGUP_CALLEE,
    LOCAL,
    SOFTSWITCH,
    START_TIMEOUT_S,
    Switch,
    SwitchPorts,
    dump_toml,
    free_port,
    free_rtp_range,
    options_status,
    switch_config,
    wait_port_bound,
)
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

SCENARIOS = Path(__file__).with_name("scenarios")
CARRIER_NUMBER = "5551234"  # what the gateway dials to reach the carrier (route below)
CARRIER_USER = "carrier-user"  # the credentials scenarios/carrier_auth.xml accepts
CARRIER_PASSWORD = "carrier-secret"


# ---- shared with the other carrier-facing tests --------------------------------------------------


def start_carrier_switch(
    tmp_path: Path,
    carrier_port: int,
    overrides: dict[str, dict[str, Any]] | None = None,
    carrier: dict[str, Any] | None = None,
) -> Switch:
    """The test switch plus a `from-gateway` route CARRIER_NUMBER -> trunk:carrier (a transit).

    The conftest `switch` fixture can only update config tables, not add routes, hence this.
    `carrier` updates the carrier trunk (credentials, for one).
    """
    ports = SwitchPorts(free_port(), free_rtp_range(), free_port(), carrier_port)
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    cfg = switch_config(ports, data_dir, overrides)
    next(t for t in cfg["trunks"] if t["name"] == "carrier").update(carrier or {})
    cfg["routes"].append(
        {"context": "from-gateway", "number": CARRIER_NUMBER, "destination": "trunk:carrier"}
    )
    config_path = tmp_path / "softswitch.toml"
    config_path.write_text(dump_toml(cfg))
    log_path = tmp_path / "softswitch.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(SOFTSWITCH), "run", "--config", str(config_path), "--headless"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    switch = Switch(proc, ports, config_path, data_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while options_status(ports.sip, timeout_s=0.1) != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            switch.stop()
            raise AssertionError(f"switch did not start; log tail:\n{switch.log_tail()}")
    return switch


@dataclass(frozen=True)
class SipMessage:
    """One message of a SIPp trace: when, which way (as SIPp saw it), its text."""

    at: float
    sent: bool
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def status(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3}) ", self.first_line)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        return None if self.status is not None else self.first_line.split(" ", 1)[0]

    @property
    def cseq_method(self) -> str:
        match = re.search(r"^CSeq:\s*\d+\s+(\S+)", self.text, re.MULTILINE | re.IGNORECASE)
        return match.group(1) if match else ""

    def header(self, name: str) -> str | None:
        match = re.search(rf"^{name}:\s*(.*?)\s*$", self.text, re.MULTILINE | re.IGNORECASE)
        return match.group(1) if match else None

    @property
    def sdp(self) -> str:
        return self.text.split("\n\n", 1)[1] if "\n\n" in self.text else ""


_TRACE_ENTRY = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\s*\n"
    r"(?:UDP|TCP) message (sent|received)[^\n]*\n\n"
    r"(.*?)(?=^-{10,}|\Z)",
    re.MULTILINE | re.DOTALL,
)


def sip_flow(messages: str) -> list[SipMessage]:
    """Parse SIPp's -trace_msg file into messages in order (line endings normalised to \\n)."""
    flow = []
    for day, clock, way, text in _TRACE_ENTRY.findall(messages.replace("\r\n", "\n")):
        at = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S.%f").timestamp()
        flow.append(SipMessage(at, way == "sent", text.strip("\n")))
    return flow


def describe(flow: list[SipMessage]) -> str:
    """The flow as one line per message, for assertion messages."""
    return "\n".join(f"{'->' if m.sent else '<-'} {m.first_line}" for m in flow)


def sdp_media(sdp: str) -> tuple[str, int, str]:
    """(connection address, audio port, direction attribute) of an SDP body."""
    address = re.search(r"^c=IN IP4 (\S+)", sdp, re.MULTILINE)
    port = re.search(r"^m=audio (\d+) ", sdp, re.MULTILINE)
    direction = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", sdp, re.MULTILINE)
    assert address and port, f"no c=/m=audio in SDP:\n{sdp}"
    return address.group(1), int(port.group(1)), direction.group(1) if direction else "sendrecv"


def start_carrier(
    sipp: Callable[..., Sipp], carrier_port: int, scenario: str, extra: list[str] | None = None
) -> Sipp:
    """SIPp as the carrier: a UAS at the carrier trunk's address running scenarios/`scenario`."""
    args = ["-sf", str(SCENARIOS / scenario), "-p", str(carrier_port), "-m", "1", *(extra or [])]
    carrier = sipp("carrier", args, timeout_s=20)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier UAS")
    return carrier


def call_carrier(
    sipp: Callable[..., Sipp],
    switch: Switch,
    scenario: str | None = None,
    hold_ms: int = 500,
    extra: list[str] | None = None,
) -> Sipp:
    """SIPp as the gateway (the `gateway` trunk, 127.0.0.1) calling CARRIER_NUMBER once."""
    args = ["-sf", str(SCENARIOS / scenario)] if scenario else ["-sn", "uac"]
    args += extra or []
    args += [f"{LOCAL}:{switch.sip_port}", "-s", CARRIER_NUMBER, "-m", "1", "-d", str(hold_ms)]
    return sipp("gateway", args, timeout_s=20)


def _closed(rows: list[dict[str, Any]]) -> bool:
    return len(rows) == 1 and rows[0]["end_ts"] is not None


def digest_ok(credentials: str, method: str, password: str) -> bool:
    """RFC 2617 §3.2.2 response check (MD5, qop=auth), independent of the switch's digest code."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', credentials.removeprefix("Digest ")))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{params['uri']}")
    expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    return params.get("qop") == "auth" and params["response"] == expected


@pytest.fixture
def trunk_password(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", CARRIER_PASSWORD))


@pytest.fixture
def auth_switch(tmp_path: Path, carrier_port: int, trunk_password: str) -> Iterator[Switch]:
    """The switch with credentials on the carrier trunk (the right ones unless parametrised)."""
    credentials = {"username": CARRIER_USER, "password": trunk_password}
    switch = start_carrier_switch(tmp_path, carrier_port, carrier=credentials)
    try:
        yield switch
    finally:
        assert switch.stop() == 0, switch.log_tail()


def test_carrier_407_is_answered_with_proxy_authorization(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_proxy_auth.xml")
    gateway = call_carrier(sipp, auth_switch).result()
    at_carrier = carrier.result()
    flow = sip_flow(at_carrier.messages)

    assert (gateway.returncode, gateway.successful) == (0, 1), gateway.summary()
    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), describe(flow)
    invites = [m for m in flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, describe(flow)
    assert invites[0].header("Proxy-Authorization") is None
    credentials = invites[1].header("Proxy-Authorization") or ""
    assert f'username="{CARRIER_USER}"' in credentials, credentials
    assert digest_ok(credentials, "INVITE", CARRIER_PASSWORD), credentials
    assert not digest_ok(credentials, "INVITE", "not-" + CARRIER_PASSWORD)
    # The retry is a new transaction in the same dialog attempt (RFC 3261 §22.3 / §8.1.3.5).
    assert invites[1].header("Call-ID") == invites[0].header("Call-ID")
    assert invites[1].header("Via") != invites[0].header("Via")
    row = auth_switch.wait_cdr(_closed, 5.0)[0]
    assert (row["direction"], row["trunk"]) == ("transit", "gateway")
    assert row["disposition"] == DISPOSITION_ANSWERED


def test_carrier_401_credentials_pass_sipp_verifyauth(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_www_auth.xml")
    gateway = call_carrier(sipp, auth_switch).result()
    flow = sip_flow(carrier.result().messages)

    assert (gateway.returncode, gateway.successful) == (0, 1), (
        f"{gateway.summary()}\ncarrier saw:\n{describe(flow)}"
    )
    assert [m.status for m in flow if m.sent and m.cseq_method == "INVITE"] == [401, 200]
    credentials = [m.header("Authorization") for m in flow if m.method == "INVITE"]
    assert credentials[0] is None and credentials[1], describe(flow)
    assert auth_switch.wait_cdr(_closed, 5.0)[0]["disposition"] == DISPOSITION_ANSWERED


def _final_status(flow: list[SipMessage]) -> int | None:
    finals = [m.status for m in flow if not m.sent and (m.status or 0) >= 200]
    return finals[-1] if finals else None


@pytest.mark.parametrize("trunk_password", ["wrong-secret"], indirect=True)
def test_wrong_trunk_password_is_refused_once(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_www_auth.xml")
    gateway = call_carrier(sipp, auth_switch, "caller_refused.xml").result()
    at_carrier = carrier.result()
    carrier_flow = sip_flow(at_carrier.messages)
    caller_flow = sip_flow(gateway.messages)

    assert _final_status(caller_flow) == 403, describe(caller_flow)
    invites = [m for m in carrier_flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, f"one retry only, the carrier saw:\n{describe(carrier_flow)}"
    row = auth_switch.wait_cdr(_closed, 5.0)[0]
    assert row["disposition"] == "failed" and row["answer_ts"] is None, row
    assert row["hangup_side"] == HANGUP_CALLEE, row


def test_carrier_rechallenge_is_not_retried(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_rechallenge.xml")
    gateway = call_carrier(sipp, auth_switch, "caller_refused.xml").result()
    carrier_flow = sip_flow(carrier.result().messages)
    caller_flow = sip_flow(gateway.messages)

    status = _final_status(caller_flow)
    assert status is not None and status >= 400, describe(caller_flow)
    # The challenge asked for the trunk's credentials, not the caller's: relayed, it would leave
    # the caller a 407 it cannot answer (and without Proxy-Authenticate, RFC 3261 §21.4.8).
    assert status not in (401, 407), "\n".join(m.text for m in caller_flow if not m.sent)
    invites = [m for m in carrier_flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, f"one retry only, the carrier saw:\n{describe(carrier_flow)}"
    assert auth_switch.wait_cdr(_closed, 5.0)[0]["answer_ts"] is None
