"""Bad input and faults: broken messages, a caller that vanishes, startup failures that exit 2."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from carrier_calls import SCENARIOS, describe, sip_flow
from running_switch import (
    HANGUP_SWITCH,
    LOCAL,
    SOFTSWITCH,
    Switch,
    SwitchPorts,
    dump_toml,
    free_port,
    free_rtp_range,
    switch_config,
)
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

ECHO = "9196"
EXIT_CONFIG = 2
REPLY_TIMEOUT_S = 2.0


# ---- raw UDP ------------------------------------------------------------------------------------


def _request(method: str, port: int, local_port: int, call_id: str, cseq: str) -> bytes:
    return (
        f"{method} sip:{ECHO}@{LOCAL}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCAL}:{local_port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:fault@{LOCAL}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{ECHO}@{LOCAL}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _first_reply(port: int, datagrams: list[Callable[[int], bytes]]) -> bytes:
    """Send datagrams (made from this socket's port) from one socket; the first reply back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCAL, 0))
        s.settimeout(REPLY_TIMEOUT_S)
        local_port = s.getsockname()[1]
        for datagram in datagrams:
            s.sendto(datagram(local_port), (LOCAL, port))
        return s.recv(65535)


def _options_reply(switch: Switch, before: list[Callable[[int], bytes]]) -> tuple[bytes, str]:
    """Send `before`, then an OPTIONS, from one socket; return the first reply and its Call-ID.

    UDP on loopback keeps order and the switch handles datagrams in turn, so any answer to
    `before` would arrive ahead of the OPTIONS' 200.
    """
    call_id = uuid.uuid4().hex
    options = [lambda p: _request("OPTIONS", switch.sip_port, p, call_id, "1 OPTIONS")]
    return _first_reply(switch.sip_port, [*before, *options]), call_id


def _status(reply: bytes) -> int:
    match = re.match(rb"SIP/2\.0 (\d{3}) ", reply)
    assert match, reply
    return int(match.group(1))


def _header(reply: bytes, name: str) -> str | None:
    match = re.search(rf"^{name}:\s*(.*?)\r?$".encode(), reply, re.MULTILINE | re.IGNORECASE)
    return match.group(1).decode() if match else None


# ---- bad input ----------------------------------------------------------------------------------


def test_malformed_request_gets_400_naming_the_problem(switch: Switch) -> None:
    call_id = uuid.uuid4().hex
    garbage = [lambda p: _request("INVITE", switch.sip_port, p, call_id, "one INVITE")]
    reply = _first_reply(switch.sip_port, garbage)

    assert _status(reply) == 400, reply
    assert _header(reply, "Call-ID") == call_id
    warning = _header(reply, "Warning") or ""
    assert re.match(r'399 \S+ ".+"', warning), reply
    assert "cseq" in warning.lower(), f"the Warning does not name the CSeq: {warning}"
    # Still serving: the next request is answered as usual.
    reply, options_call_id = _options_reply(switch, [])
    assert (_status(reply), _header(reply, "Call-ID")) == (200, options_call_id)
    switch.assert_running()


@pytest.mark.parametrize(
    ("status_line", "cseq"),
    [
        pytest.param("SIP/2.0 2OO OK", "1 INVITE", id="bad-status"),
        pytest.param("SIP/2.0 200 OK", "x INVITE", id="bad-cseq"),
    ],
)
def test_malformed_response_is_dropped(switch: Switch, status_line: str, cseq: str) -> None:
    def broken(local_port: int) -> bytes:
        return (
            f"{status_line}\r\n"
            f"Via: SIP/2.0/UDP {LOCAL}:{switch.sip_port};branch=z9hG4bK-ss-{uuid.uuid4().hex}\r\n"
            f"From: <sip:{ECHO}@{LOCAL}>;tag=abc\r\n"
            f"To: <sip:fault@{LOCAL}:{local_port}>;tag=def\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\n"
            f"CSeq: {cseq}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    reply, call_id = _options_reply(switch, [broken])

    # The first thing back is the OPTIONS' 200: nothing answered the broken response.
    assert (_status(reply), _header(reply, "Call-ID")) == (200, call_id), reply
    switch.assert_running()


@pytest.mark.timeout(60)
def test_caller_that_never_acks_is_hung_up_by_the_switch(
    switch: Switch, sipp: Callable[..., Sipp]
) -> None:
    args = ["-sf", str(SCENARIOS / "caller_no_ack.xml"), f"{LOCAL}:{switch.sip_port}"]
    caller = sipp("no-ack", [*args, "-s", ECHO, "-m", "1"], timeout_s=50)

    # 64*T1 = 32 s of 200 retransmissions (RFC 3261 §13.3.1.4), then the switch gives up.
    row = switch.closed_cdr(45.0)
    result = caller.result()
    flow = sip_flow(result.messages)

    assert row["answer_ts"] is not None and row["hangup_side"] == HANGUP_SWITCH, row
    # 64*T1 after the 200 was sent (answer_ts is taken just before): 60*T1 or 70*T1 would fail.
    assert 31.9 <= row["end_ts"] - row["answer_ts"] <= 33.0, row
    assert (result.returncode, result.successful) == (0, 1), (
        f"{result.summary()}\nthe caller saw:\n{describe(flow)}"
    )
    answers = [m for m in flow if not m.sent and m.status == 200]
    assert len(answers) > 1, f"the 200 was not retransmitted:\n{describe(flow)}"
    switch.assert_running()


# ---- startup failures -----------------------------------------------------------------------


def _write_config(tmp_path: Path, sip_port: int, data_dir: Path) -> Path:
    ports = SwitchPorts(sip_port, free_rtp_range(), free_port(), free_port())
    config_path = tmp_path / "softswitch.toml"
    config_path.write_text(dump_toml(switch_config(ports, data_dir)))
    return config_path


def _run(config_path: Path) -> subprocess.CompletedProcess[str]:
    """`softswitch run` that is expected to give up at once (bounded in case it does not)."""
    return subprocess.run(
        [str(SOFTSWITCH), "run", "--config", str(config_path), "--headless"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=15,
        cwd=config_path.parent,
    )


def _error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    """What the operator is told: the `softswitch:` lines (log lines carry a timestamp)."""
    return [
        line for line in (run.stdout + run.stderr).splitlines() if line.startswith("softswitch")
    ]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_port_in_use_exits_2_with_one_line(tmp_path: Path, transport: str) -> None:
    port = free_port()
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind((LOCAL, port))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        run = _run(_write_config(tmp_path, port, tmp_path / "data"))

    assert run.returncode == EXIT_CONFIG, run.stdout + run.stderr
    lines = _error_lines(run)
    assert len(lines) == 1 and str(port) in lines[0], run.stdout + run.stderr
    assert "in use" in lines[0].lower(), lines[0]
    assert "Traceback" not in run.stderr


def test_data_dir_under_a_regular_file_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data folder should go\n")
    run = _run(_write_config(tmp_path, free_port(), blocker / "data"))

    assert run.returncode == EXIT_CONFIG, run.stdout + run.stderr
    lines = _error_lines(run)
    assert len(lines) == 1 and str(blocker) in lines[0], run.stdout + run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("section", "key", "value", "key_path"),
    [
        pytest.param("calls", "ring_timeout_s", "soon", "calls.ring_timeout_s", id="wrong-type"),
        pytest.param("sip", "colour", "blue", "sip.colour", id="unknown-key"),
        # A range is one setting made of two keys: the table is named.
        pytest.param("rtp", "port_min", 40000, "rtp", id="bad-port-range"),
    ],
)
def test_bad_config_exits_2_naming_file_and_key(
    tmp_path: Path, section: str, key: str, value: object, key_path: str
) -> None:
    ports = SwitchPorts(free_port(), (30000, 30099), free_port(), free_port())
    cfg = switch_config(ports, tmp_path / "data", {section: {key: value}})
    config_path = tmp_path / "bad.toml"
    config_path.write_text(dump_toml(cfg))
    run = _run(config_path)

    assert run.returncode == EXIT_CONFIG, run.stdout + run.stderr
    lines = _error_lines(run)
    assert len(lines) == 1, run.stdout + run.stderr
    assert lines[0].startswith(f"softswitch: {config_path}:{key_path}: "), lines[0]
    assert not (tmp_path / "data").exists(), "the switch started something before refusing"
