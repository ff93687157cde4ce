"""SIGHUP to a running switch reloads the IVR flows: a clean set is used, a broken one refused."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from running_switch import (
    SOFTSWITCH,
    Switch,
    SwitchPorts,
    dump_toml,
    free_port,
    start_switch,
    switch_config,
)

from softswitch.ivr.folder import builtin_flows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _wait_log(switch: Switch, text: str, timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        log = switch.log_path.read_text(errors="replace")
        if text in log:
            return log
        switch.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged within {timeout_s} s:\n{switch.log_tail()}")
        time.sleep(0.05)


def test_sighup_reloads_flows_and_refuses_a_broken_set(tmp_path: Path, carrier_port: int) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(str(builtin_flows() / "demo.toml"), flows / "demo.toml")
    switch = start_switch(tmp_path, carrier_port, overrides={"ivr": {"flows_dir": str(flows)}})
    try:
        _wait_log(switch, "ivr: flow set 1: demo")
        (flows / "night.toml").write_text(
            'start = "a"\n[nodes.a]\nkind = "voicemail"\ntarget = "600"\n'
        )
        switch.proc.send_signal(signal.SIGHUP)
        _wait_log(switch, "ivr: flow set 2: demo, night")

        (flows / "demo.toml").write_text('start = "greeting"\n[nodes.greeting]\nkind = "dance"\n')
        switch.proc.send_signal(signal.SIGHUP)
        log = _wait_log(switch, "ivr: still using flow set 2")
        assert f"ivr: reload refused: {flows / 'demo.toml'}: node 'greeting': kind:" in log
        assert "ivr: flow set 3" not in log
    finally:
        assert switch.stop() == 0, switch.log_tail()


def test_run_refuses_to_start_with_broken_flows(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "demo.toml").write_text('start = "a"\n[nodes.a]\nkind = "menu"\ntext = "x"\n')
    ports = SwitchPorts(sip=free_port(), rtp=(20000, 20099), metrics=0, carrier=free_port())
    cfg = switch_config(ports, tmp_path / "data", {"ivr": {"flows_dir": str(flows)}})
    (tmp_path / "s.toml").write_text(dump_toml(cfg))
    result = subprocess.run(
        [str(SOFTSWITCH), "run", "--config", str(tmp_path / "s.toml"), "--headless"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"IVR flows: {flows / 'demo.toml'}: node 'a': choices:" in result.stderr
