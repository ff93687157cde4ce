"""sippy's b2bua_simple: the Python B2BUA reference."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

from bench.peers.base import Peer, sip_options_ping


class Sippy(Peer):
    name = "sippy"

    def start(self) -> None:
        command = [
            str(Path(sys.executable).parent / "b2bua_simple"),
            "-f", "-l", "127.0.0.1", "-p", str(self.sip_port), "-n", f"127.0.0.1:{self.uas_port}",
        ]  # fmt: skip
        # sippy logs every SIP message at INFO; the switch runs at warning, so sippy does too.
        self.spawn(command, "sippy.log", env={"SIPLOG_LVL": "WARN"})
        # sippy answers OPTIONS with 501: any response means it is listening.
        sip_options_ping(self.sip_port)
        self.check_alive()

    @staticmethod
    def version() -> str:
        try:
            return dist_version("sippy")
        except PackageNotFoundError:
            return "not installed"
