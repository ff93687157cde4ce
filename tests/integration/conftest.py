"""Fixtures that start the real switch and real peers (SIPp, pjsua2) on loopback.

Where the kernel allows it (root, or unprivileged user namespaces), the whole integration session
runs in a private network namespace holding only `lo`: a packet meant for any other address fails
at once with "Network is unreachable" instead of leaving the machine, and ports cannot collide with
other programs on the host. Set SOFTSWITCH_TEST_NETNS=0 to stay in the host's namespace (to watch
the traffic with tshark); everything still binds to 127.0.0.1 and the switch is configured with
`allowed_destinations` limited to loopback.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.pjsua import PjsuaPeer
from running_switch import Switch, free_port, start_switch
from sipp_process import Sipp

CLONE_NEWNET = 0x40000000  # <sched.h>
SIOCGIFFLAGS = 0x8913  # <linux/sockios.h>
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


# ---- private network namespace ------------------------------------------------------------------


def _enter_private_netns() -> str:
    """Move this process (and so every child it starts) into a namespace with only loopback."""
    if os.environ.get("SOFTSWITCH_TEST_NETNS", "1") == "0":
        return "host namespace (SOFTSWITCH_TEST_NETNS=0)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"host namespace (unshare refused: {os.strerror(ctypes.get_errno())})"
    _loopback_up()
    return "private network namespace"


def _loopback_up() -> None:
    """`ip link set lo up` without needing iproute2: SIOCGIFFLAGS, set IFF_UP, SIOCSIFFLAGS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


NETWORK = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def network_isolation(pytestconfig: pytest.Config) -> str:
    """Entered once, before the first integration test; the summary says which one ran."""
    where = _enter_private_netns()
    pytestconfig.stash[NETWORK] = where
    return where


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if NETWORK in config.stash:
        terminalreporter.write_line(f"integration tests ran in: {config.stash[NETWORK]}")


# ---- the switch ---------------------------------------------------------------------------------


@pytest.fixture
def carrier_port() -> int:
    """Where the `carrier` trunk points: the port a test's SIPp UAS listens on."""
    return free_port()


@pytest.fixture
def switch(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    carrier_port: int,
    pjsua: Callable[[str], PjsuaPeer],
    sipp: Callable[..., Sipp],
) -> Iterator[Switch]:
    """A fresh switch per test; parametrise indirectly with {section: {key: value}} overrides.

    It takes the peer factories so that it stops before they do: its BYEs at shutdown are then
    answered, instead of waiting out the shutdown timeout on phones already gone."""
    overrides = getattr(request, "param", None)
    sw = start_switch(tmp_path, carrier_port, overrides)
    try:
        yield sw
    finally:
        running = sw.proc.poll() is None
        rc = sw.stop()
        if running:
            assert rc == 0, f"switch exited {rc} on SIGTERM; log tail:\n{sw.log_tail()}"


# ---- pjsua2 peers -------------------------------------------------------------------------------


@pytest.fixture
def pjsua(tmp_path: Path) -> Iterator[Callable[[str], PjsuaPeer]]:
    """Factory of pjsua2 peer processes, all closed at teardown."""
    started: list[PjsuaPeer] = []

    def make(name: str) -> PjsuaPeer:
        peer = PjsuaPeer(name, tmp_path)
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.close()


# ---- SIPp ---------------------------------------------------------------------------------------


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """Factory: sipp("uac", [args], timeout_s) starts SIPp in the background; killed at teardown."""
    started: list[Sipp] = []

    def make(name: str, args: list[str], timeout_s: float = 30.0) -> Sipp:
        proc = Sipp(tmp_path, name, args, timeout_s)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
