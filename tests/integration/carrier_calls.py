"""A switch whose `gateway` trunk dials the `carrier` trunk, SIPp scenarios, and a reader of
SIPp's message trace: what the SIPp-driven tests (trunk auth, hold, early media, faults,
registration) share."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from running_switch import (
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
    gateway: dict[str, Any] | None = None,
) -> Switch:
    """The test switch plus a `from-gateway` route CARRIER_NUMBER -> trunk:carrier (a transit).

    The conftest `switch` fixture can only update config tables, not add routes, hence this.
    `carrier` updates the carrier trunk (credentials, for one), `gateway` the gateway trunk.
    """
    ports = SwitchPorts(free_port(), free_rtp_range(), free_port(), carrier_port)
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    cfg = switch_config(ports, data_dir, overrides)
    next(t for t in cfg["trunks"] if t["name"] == "carrier").update(carrier or {})
    next(t for t in cfg["trunks"] if t["name"] == "gateway").update(gateway or {})
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
