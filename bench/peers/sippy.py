"""sippy's b2bua_simple: the Python B2BUA reference."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version

from bench.peers.base import Peer, PeerError, sip_options_ping
from bench.programs import B2BUA_SIMPLE, NOT_INSTALLED


class Sippy(Peer):
    name = "sippy"
    programs = (B2BUA_SIMPLE,)

    def start(self) -> None:
        path = B2BUA_SIMPLE.path()
        if path is None:
            raise PeerError(f"{B2BUA_SIMPLE.describe()} is not installed")
        command = [
            path, "-f", "-l", "127.0.0.1", "-p", str(self.sip_port),
            "-n", f"127.0.0.1:{self.uas_port}",
        ]  # fmt: skip
        # sippy logs every SIP message at INFO; the switch runs at warning, so sippy does too.
        self.spawn(command, "sippy.log", env={"SIPLOG_LVL": "WARN"})
        # sippy answers OPTIONS with 501: any response means it is listening.
        sip_options_ping(self.sip_port)
        self.check_alive()

    @staticmethod
    def version() -> str:
        if B2BUA_SIMPLE.path() is None:
            return NOT_INSTALLED
        try:
            return dist_version("sippy")
        except PackageNotFoundError:
            return "unknown"
