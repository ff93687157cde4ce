"""`make run` as a person runs it: the switch with its console in an 80x24 terminal (tmux),
keys sent with send-keys, and what the screen shows read with capture-pane."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_events import wait_api
from peers.pjsua import PjsuaPeer
from running_switch import (
    LOCAL,
    REPO,
    SwitchPorts,
    dump_toml,
    free_port,
    free_rtp_range,
    options_status,
    query_cdr,
    switch_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class Tmux:
    """One tmux server of our own (its own socket), one 80x24 window."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.socket = f"softswitch-test-{uuid.uuid4().hex[:8]}"
        self._run("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", "-c", str(cwd))
        self._run("set-option", "-t", "console", "remain-on-exit", "on")
        self._run("respawn-pane", "-k", "-t", "console", command)

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {args[0]}: {done.stderr}")
        return done.stdout

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "console", *keys)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "console")

    def wait_screen(self, condition: Callable[[str], bool], timeout_s: float, what: str) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{text}")
            time.sleep(0.1)

    def pane_dead(self) -> bool:
        return self._run("display-message", "-p", "-t", "console", "#{pane_dead}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def ports(carrier_port: int) -> SwitchPorts:
    return SwitchPorts(free_port(), free_rtp_range(), free_port(), carrier_port, free_port())


@pytest.fixture
def tmux_make_run(tmp_path: Path, ports: SwitchPorts) -> Iterator[Tmux]:
    if shutil.which("tmux") is None or shutil.which("make") is None:
        pytest.skip("tmux or make missing: `make setup` installs tmux")
    config = tmp_path / "softswitch.toml"
    config.write_text(dump_toml(switch_config(ports, tmp_path / "data")))
    tmux = Tmux(f"make -s -C {REPO} run CONFIG={config}", tmp_path)
    try:
        yield tmux
    finally:
        tmux.close()


def test_make_run_shows_registrations_and_a_call_and_ctrl_c_stops_the_switch(
    tmux_make_run: Tmux, ports: SwitchPorts, tmp_path: Path, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    tmux = tmux_make_run
    tmux.wait_screen(lambda s: "connected" in s and "F2 Calls" in s, 30, "the console connected")
    assert options_status(ports.sip) == 200
    wait_api(ports.api)
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(ports.sip, "1001", "demo-1001")
    bob.register(ports.sip, "1002", "demo-1002")
    tmux.keys("F3")
    screen = tmux.wait_screen(
        lambda s: "Phones (2)" in s, 10, "both phones registered (F3 Registrations)"
    )
    lines = [line for line in screen.splitlines() if line.lstrip().startswith(("1001 ", "1002 "))]
    assert len(lines) == 2 and all("udp:127.0.0.1:" in line for line in lines), screen
    assert "carrier" in screen and "from-carrier" in screen  # the trunks, for the admin

    call = alice.call(f"sip:1002@{LOCAL}:{ports.sip}")
    incoming = bob.wait_incoming(5.0)
    bob.send("answer", call=incoming["call"])
    alice.wait_call_state(call, "CONFIRMED", 5.0)
    tmux.keys("F2")
    screen = tmux.wait_screen(lambda s: "answered" in s, 10, "the call answered (F2 Calls)")
    row = next(line for line in screen.splitlines() if "answered" in line)
    assert "1001" in row and "1002" in row, screen
    assert "F2 Calls 1" in screen

    tmux.keys("C-c")
    deadline = time.monotonic() + 10
    while not tmux.pane_dead():
        assert time.monotonic() < deadline, f"still running after Ctrl-C:\n{tmux.screen()}"
        time.sleep(0.1)
    alice.wait_bye(call, 5.0)  # the switch ended the call on its way out
    rows = query_cdr(tmp_path / "data" / "softswitch.db")
    assert len(rows) == 1 and rows[0]["end_ts"] is not None


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_closing_the_terminal_ends_the_switch_and_its_calls(
    tmux_make_run: Tmux, ports: SwitchPorts, tmp_path: Path, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    """An operator's ssh session drops: the switch must not linger on a dead terminal (it used
    to take SIGHUP as a flow reload, then hang with its console blocked on the terminal)."""
    tmux = tmux_make_run
    tmux.wait_screen(lambda s: "connected" in s and "F2 Calls" in s, 30, "the console connected")
    pane_pid = int(tmux._run("display-message", "-p", "-t", "console", "#{pane_pid}").strip())
    processes = {pane_pid} | _descendants(pane_pid)
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(ports.sip, "1001", "demo-1001")
    bob.register(ports.sip, "1002", "demo-1002")
    call = alice.call(f"sip:1002@{LOCAL}:{ports.sip}")
    bob.send("answer", call=bob.wait_incoming(5.0)["call"])
    alice.wait_call_state(call, "CONFIRMED", 5.0)

    tmux.close()  # the terminal goes away: its processes get SIGHUP
    alice.wait_bye(call, 10.0)  # the switch ended the call on its way out
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in processes):
        assert time.monotonic() < deadline, "the switch outlived its terminal"
        time.sleep(0.1)
    rows = query_cdr(tmp_path / "data" / "softswitch.db")
    assert len(rows) == 1 and rows[0]["end_ts"] is not None
