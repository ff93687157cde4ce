"""Registrar behaviour a phone relies on: bindings survive a restart, 423 below the minimum
expiry, and `Contact: *` removes every binding."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from carrier_calls import SCENARIOS, describe, sip_flow
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, LOCAL, Switch, start_switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

DID = "7000"  # the gateway's number for extension 1001 in config.example.toml
MIN_EXPIRES_S = 60  # registrar.min_expires_s in config.example.toml


def _bindings(switch: Switch, aor: str) -> list[tuple[str, int]]:
    """(source host, source port) of the stored bindings of `aor`, read-only."""
    conn = sqlite3.connect(f"file:{switch.db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        rows = conn.execute(
            "SELECT source_host, source_port FROM registration WHERE aor = ?", (aor,)
        )
        return [(str(host), int(port)) for host, port in rows]
    finally:
        conn.close()


def _wait_bindings(
    switch: Switch, aor: str, expected: list[tuple[str, int]], timeout_s: float = 5.0
) -> None:
    """The store is written after the REGISTER is answered: poll it up to a deadline."""
    deadline = time.monotonic() + timeout_s
    while (found := _bindings(switch, aor)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"bindings of {aor}: {found}, expected {expected}")
        time.sleep(0.05)


def _gateway_call(sipp: Callable[..., Sipp], switch: Switch, args: list[str]) -> Sipp:
    """SIPp as the `gateway` trunk calling the DID once."""
    return sipp("gateway", [*args, f"{LOCAL}:{switch.sip_port}", "-s", DID, "-m", "1"], 20)


def _final_statuses_of_call(sipp: Callable[..., Sipp], switch: Switch) -> list[int | None]:
    """Call the DID (1001) as the gateway, expecting a refusal: the final statuses it got."""
    caller = _gateway_call(sipp, switch, ["-sf", str(SCENARIOS / "caller_refused.xml")])
    flow = sip_flow(caller.result().messages)
    return [m.status for m in flow if not m.sent and (m.status or 0) >= 200]


def _register_as_1001(sipp: Callable[..., Sipp], switch: Switch, scenario: str) -> Sipp:
    args = ["-sf", str(SCENARIOS / scenario), f"{LOCAL}:{switch.sip_port}", "-s", "1001"]
    args += ["-au", "1001", "-ap", "demo-1001", "-m", "1"]
    return sipp(scenario.removesuffix(".xml"), args, 10)


def test_binding_survives_a_restart(
    switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    sipp: Callable[..., Sipp],
    tmp_path: Path,
    carrier_port: int,
) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    assert switch.stop() == 0, switch.log_tail()

    # Same data dir (tmp_path / "data"), new ports: only the database remembers the phone.
    restarted = start_switch(tmp_path, carrier_port)
    try:
        assert _bindings(restarted, "1001") == [(LOCAL, phone.udp_port)]
        gateway = _gateway_call(sipp, restarted, ["-sn", "uac", "-d", "500"])
        incoming = phone.wait_incoming(10.0)
        phone.send("answer", call=incoming["call"])
        phone.wait_bye(incoming["call"], 10.0)
        result = gateway.result()

        assert (result.returncode, result.successful) == (0, 1), result.summary()
        registrations = [e for e in phone.events if e["event"] in ("registered", "reg_failed")]
        assert len(registrations) == 1, f"the phone registered again: {registrations}"
        row = restarted.closed_cdr()
        assert row["disposition"] == DISPOSITION_ANSWERED
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_register_below_min_expires_gets_423(switch: Switch, sipp: Callable[..., Sipp]) -> None:
    result = _register_as_1001(sipp, switch, "register_too_brief.xml").result()
    flow = sip_flow(result.messages)

    assert (result.returncode, result.successful) == (0, 1), (
        f"{result.summary()}\nSIPp saw:\n{describe(flow)}"
    )
    too_brief = [m for m in flow if not m.sent and m.status == 423]
    assert too_brief[0].header("Min-Expires") == str(MIN_EXPIRES_S), too_brief[0].text
    assert _final_statuses_of_call(sipp, switch) == [480], "1001 was registered anyway"


def test_unregister_all_removes_the_binding(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], sipp: Callable[..., Sipp]
) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    _wait_bindings(switch, "1001", [(LOCAL, phone.udp_port)])

    result = _register_as_1001(sipp, switch, "unregister_all.xml").result()
    flow = sip_flow(result.messages)
    assert (result.returncode, result.successful) == (0, 1), (
        f"{result.summary()}\nSIPp saw:\n{describe(flow)}"
    )
    _wait_bindings(switch, "1001", [])

    assert _final_statuses_of_call(sipp, switch) == [480]
    assert not [e for e in phone.events if e["event"] == "incoming_call"], phone.events
