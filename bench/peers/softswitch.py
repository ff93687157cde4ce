"""The switch under test, started headless with a config the bench writes for the load."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bench.peers.base import Peer, PeerError, free_port, free_port_range, sip_options_ping
from bench.programs import NOT_INSTALLED
from bench.sipp import DIALLED_NUMBER

RTP_PORTS = 8000
# The conference scenario's rooms: far more than the example's 8000-8099, reached from the
# loadgen trunk by a prefix route into the internal plan.
CONFERENCE_NUMBERS = (8000, 8999)


def bench_config(uas_port: int, *, record: bool = False, conferences: bool = False) -> str:
    """Calls from the load generator (trunk loadgen) to DIALLED_NUMBER go out to the SIPp uas;
    with `record`, every call is recorded (stereo WAV, 8 kHz), as `record = true` on a trunk."""
    return f"""\
# Written by the bench: SIPp uac -> softswitch -> SIPp uas, all on loopback.
[sip]
host = "127.0.0.1"
transports = ["udp"]

[security]
allowed_destinations = ["127.0.0.0/8", "::1/128"]

[[trunks]]
name = "loadgen"
host = "127.0.0.1"
port = 0
context = "from-loadgen"
record = {"true" if record else "false"}

[[trunks]]
name = "uas"
host = "127.0.0.1"
port = {uas_port}
transport = "udp"
context = "from-uas"

[[routes]]
context = "from-loadgen"
number = "{DIALLED_NUMBER}"
destination = "trunk:uas"
""" + (CONFERENCE_SECTION if conferences else "")


CONFERENCE_SECTION = f"""
# The conference scenario: open rooms of 3, no beeps (the mix alone is measured), not recorded.
[conference]
numbers = "{CONFERENCE_NUMBERS[0]}-{CONFERENCE_NUMBERS[1]}"
max_participants = 3
join_tones = false

[recording]
conferences = false

[[routes]]
context = "from-loadgen"
prefix = "8"
destination = "number"
"""


def softswitch_command() -> Path:
    return Path(sys.executable).parent / "softswitch"


class Softswitch(Peer):
    name = "softswitch"
    anchors_media = True
    record = False
    conferences = False

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "softswitch.toml"
        config.write_text(
            bench_config(self.uas_port, record=self.record, conferences=self.conferences)
        )
        (self.workdir / "data").mkdir(exist_ok=True)
        low, high = free_port_range(RTP_PORTS)
        command = [
            str(softswitch_command()), "run", "--config", str(config), "--headless",
            "--sip-host", "127.0.0.1", "--sip-port", str(self.sip_port),
            "--rtp-ports", f"{low}-{high}", "--data-dir", str(self.workdir / "data"),
            "--metrics-port", str(free_port(kind=socket.SOCK_STREAM)), "--log-level", "warning",
        ]  # fmt: skip
        self.spawn(command, "softswitch.log")
        try:
            status = sip_options_ping(self.sip_port)
        except PeerError:
            self.check_alive()
            raise
        if status != 200:
            raise PeerError(f"softswitch answered OPTIONS with {status}, not 200")

    @staticmethod
    def version() -> str:
        try:
            out = subprocess.run(
                [str(softswitch_command()), "--version"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        except OSError:
            return NOT_INSTALLED
        return out.stdout.strip().split()[-1] if out.returncode == 0 and out.stdout else "unknown"


class RecordingSoftswitch(Softswitch):
    """The switch recording every call: the media scenario's cost of recording."""

    name = "softswitch-recording"
    record = True


class ConferenceSoftswitch(Softswitch):
    """The switch with rooms 8000-8999 open to the loadgen trunk: the conference scenario."""

    name = "softswitch-conference"
    conferences = True
