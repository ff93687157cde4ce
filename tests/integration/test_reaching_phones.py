"""Reaching a registered phone over real sockets: its Contact, or behind NAT where its REGISTER
came from (calls/nat.py), per extension `nat = auto | force | never`.

The gateway trunk (SIPp) calls DID 7000, which rings extension 1001. Who registered 1001, from
where and with which Contact and Via is what each test varies; where the INVITE arrives is what it
checks. A `Registrant` is a UDP socket of the test's own that registers and then sees the INVITEs
sent to its port; a SIPp UAS on another port stands for the device its Contact names.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from carrier_calls import SCENARIOS, describe, sip_flow
from running_switch import DISPOSITION_ANSWERED, LOCAL, Switch, start_switch, wait_port_bound
from sipp_process import Sipp, SippResult

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

DID = "7000"  # the gateway's number for extension 1001 in config.example.toml
USER, PASSWORD = "1001", "demo-1001"
FOREIGN = "192.0.2.10"  # TEST-NET-1: outside the test switch's allowed_destinations
REPLY_TIMEOUT_S = 5.0


class Registrant:
    """Registers 1001 from its own UDP port with the Contact and Via sent-by a test chooses
    (answering the MD5 digest challenge itself), and receives what the switch sends there."""

    def __init__(self, switch_port: int) -> None:
        self.switch = (LOCAL, switch_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.port: int = self.sock.getsockname()[1]
        self.call_id = secrets.token_hex(8) + "@" + LOCAL

    def close(self) -> None:
        self.sock.close()

    def register(self, contact: str, via_sent_by: str) -> None:
        challenge = self._send_register(1, contact, via_sent_by, None)
        assert challenge.startswith("SIP/2.0 401 "), challenge
        header = re.search(r"^WWW-Authenticate: Digest (.*)$", challenge, re.MULTILINE)
        assert header is not None, challenge
        params = {
            k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header.group(1))
        }
        answer = self._send_register(2, contact, via_sent_by, self._authorization(params))
        assert answer.startswith("SIP/2.0 200 "), answer

    def _authorization(self, challenge: dict[str, str]) -> str:
        """RFC 2617 §3.2.2 with qop=auth, written here rather than taken from the switch."""
        uri, cnonce, nc = f"sip:{LOCAL}:{self.switch[1]}", secrets.token_hex(8), "00000001"
        realm, nonce = challenge["realm"], challenge["nonce"]

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1, ha2 = md5(f"{USER}:{realm}:{PASSWORD}"), md5(f"REGISTER:{uri}")
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        opaque = f', opaque="{challenge["opaque"]}"' if "opaque" in challenge else ""
        return (
            f'Digest username="{USER}", realm="{realm}", nonce="{nonce}", uri="{uri}",'
            f' response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"{opaque}'
        )

    def _send_register(
        self, cseq: int, contact: str, via_sent_by: str, authorization: str | None
    ) -> str:
        lines = [
            f"REGISTER sip:{LOCAL}:{self.switch[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP {via_sent_by};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{USER}@{LOCAL}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{USER}@{LOCAL}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <{contact}>",
            "Expires: 300",
            *([f"Authorization: {authorization}"] if authorization else []),
            "Content-Length: 0",
        ]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), self.switch)
        return self._receive(lambda text: text.startswith("SIP/2.0 "), REPLY_TIMEOUT_S)

    def _receive(self, wanted: Callable[[str], bool], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                text = self.sock.recv(65535).decode(errors="replace").replace("\r\n", "\n")
            except TimeoutError:
                break
            if wanted(text):
                return text
        raise AssertionError(f"nothing wanted arrived at port {self.port} within {timeout_s} s")

    def refuse_invite(self, timeout_s: float) -> str:
        """Wait for an INVITE to this port, answer it 486 and return its request line."""
        invite = self._receive(lambda text: text.startswith("INVITE "), timeout_s)
        headers = [line for line in invite.split("\n\n", 1)[0].split("\n")[1:] if line]
        kept = [h for h in headers if re.match(r"(Via|From|Call-ID|CSeq):", h, re.IGNORECASE)]
        to = next(h for h in headers if re.match(r"To:", h, re.IGNORECASE))
        reply = ["SIP/2.0 486 Busy Here", *kept, f"{to};tag={secrets.token_hex(4)}"]
        reply.append("Content-Length: 0")
        self.sock.sendto(("\r\n".join(reply) + "\r\n\r\n").encode(), self.switch)
        return invite.split("\n", 1)[0]

    def invites_waiting(self) -> list[str]:
        """INVITEs already in the socket's buffer (loopback delivers before sendto returns)."""
        self.sock.setblocking(False)
        found = []
        try:
            while True:
                text = self.sock.recv(65535).decode(errors="replace")
                if text.startswith("INVITE "):
                    found.append(text.split("\r\n", 1)[0])
        except BlockingIOError:
            return found
        finally:
            self.sock.setblocking(True)


def _gateway_call(sipp: Callable[..., Sipp], switch: Switch, name: str = "gateway") -> SippResult:
    """SIPp as the `gateway` trunk calling DID 7000 (extension 1001) once, 0.5 s if answered."""
    args = ["-sn", "uac", f"{LOCAL}:{switch.sip_port}", "-s", DID, "-m", "1", "-d", "500"]
    return sipp(name, args, 20).result()


def _final_status(result: SippResult) -> int | None:
    finals = [m.status for m in sip_flow(result.messages) if not m.sent and (m.status or 0) >= 200]
    return finals[-1] if finals else None


def _uas(sipp: Callable[..., Sipp], calls: int = 1) -> Sipp:
    uas = sipp("device", ["-sn", "uas", "-m", str(calls)], 40)
    wait_port_bound(uas.sip_port, 5.0, "SIPp UAS")
    return uas


def _invites_received(result: SippResult) -> list[str]:
    return [m.first_line for m in sip_flow(result.messages) if not m.sent and m.method == "INVITE"]


def test_a_uas_registered_by_another_client_is_called_on_its_own_port_even_after_a_restart(
    tmp_path: Path, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    """Third-party registration (RFC 3261 §10.2): SIPp registers 1001 from its port with the
    Contact of a SIPp UAS on another port; the calls ring the UAS, before and after a restart
    (the stored binding kept the Contact and the Via as well as the source)."""
    device = _uas(sipp, calls=2)
    contact = f"sip:{USER}@{LOCAL}:{device.sip_port}"
    switch = start_switch(tmp_path, carrier_port)
    try:
        args = ["-sf", str(SCENARIOS / "register_other_contact.xml"), f"{LOCAL}:{switch.sip_port}"]
        args += ["-s", USER, "-au", USER, "-ap", PASSWORD, "-m", "1"]
        registering = sipp("registering", [*args, "-key", "contact_port", str(device.sip_port)])
        registered = registering.result()
        assert (registered.returncode, registered.successful) == (0, 1), registered.summary()
        assert registering.sip_port != device.sip_port
        before = _gateway_call(sipp, switch, "gateway-before")
        assert (before.returncode, before.successful) == (0, 1), before.summary()
    finally:
        assert switch.stop() == 0, switch.log_tail()

    restarted = start_switch(tmp_path, carrier_port)
    try:
        after = _gateway_call(sipp, restarted, "gateway-after")
        assert (after.returncode, after.successful) == (0, 1), after.summary()
        rows = restarted.wait_cdr(lambda rows: len(rows) == 2 and rows[1]["end_ts"], 5.0)
    finally:
        assert restarted.stop() == 0, restarted.log_tail()
    answered = device.result()
    assert (answered.returncode, answered.successful) == (0, 2), answered.summary()
    assert _invites_received(answered) == [f"INVITE {contact} SIP/2.0"] * 2
    assert [row["disposition"] for row in rows] == [DISPOSITION_ANSWERED] * 2


@pytest.mark.parametrize(
    ("nat", "contact_host", "via_port_offset"),
    [
        pytest.param("auto", LOCAL, 1, id="auto-via-port-is-not-the-source-port"),
        pytest.param("auto", FOREIGN, 0, id="auto-contact-on-another-host"),
        pytest.param("force", LOCAL, 0, id="force-although-no-nat-is-seen"),
    ],
)
def test_behind_nat_or_forced_the_invite_goes_where_the_register_came_from(
    tmp_path: Path,
    carrier_port: int,
    sipp: Callable[..., Sipp],
    nat: str,
    contact_host: str,
    via_port_offset: int,
) -> None:
    switch = start_switch(tmp_path, carrier_port, extensions={USER: {"nat": nat}})
    phone = Registrant(switch.sip_port)
    try:
        # Nothing listens at the Contact's port: an INVITE sent there would go unanswered.
        contact = f"sip:{USER}@{contact_host}:{phone.port + 2}"
        phone.register(contact, f"{LOCAL}:{phone.port + via_port_offset}")
        gateway = sipp(
            "gateway", ["-sn", "uac", f"{LOCAL}:{switch.sip_port}", "-s", DID, "-m", "1"]
        )
        assert phone.refuse_invite(10.0) == f"INVITE {contact} SIP/2.0"
        result = gateway.result()
        assert _final_status(result) == 486, describe(sip_flow(result.messages))
    finally:
        phone.close()
        assert switch.stop() == 0, switch.log_tail()


def test_never_follows_the_contact_although_nat_is_seen(
    tmp_path: Path, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    device = _uas(sipp)
    switch = start_switch(tmp_path, carrier_port, extensions={USER: {"nat": "never"}})
    phone = Registrant(switch.sip_port)
    try:
        contact = f"sip:{USER}@{LOCAL}:{device.sip_port}"
        phone.register(contact, f"{LOCAL}:{phone.port + 1}")  # the Via's port gives NAT away
        result = _gateway_call(sipp, switch)
        assert (result.returncode, result.successful) == (0, 1), result.summary()
        assert phone.invites_waiting() == []
        answered = device.result()
        assert _invites_received(answered) == [f"INVITE {contact} SIP/2.0"]
    finally:
        phone.close()
        assert switch.stop() == 0, switch.log_tail()


def test_never_does_not_follow_a_contact_outside_allowed_destinations(
    tmp_path: Path, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    """A registration cannot point the switch at a foreign address (the test switch may send to
    loopback only): the call gets 503 and nothing is sent, neither there nor to the source."""
    switch = start_switch(tmp_path, carrier_port, extensions={USER: {"nat": "never"}})
    phone = Registrant(switch.sip_port)
    try:
        phone.register(f"sip:{USER}@{FOREIGN}:5060", f"{LOCAL}:{phone.port}")
        result = _gateway_call(sipp, switch)
        assert _final_status(result) == 503, describe(sip_flow(result.messages))
        assert phone.invites_waiting() == []
        row = switch.wait_cdr(lambda rows: len(rows) == 1 and rows[0]["end_ts"], 5.0)[0]
        assert row["hangup_cause"] == "503 no destination is allowed"
    finally:
        phone.close()
        assert switch.stop() == 0, switch.log_tail()
