"""The programs the bench runs besides Python, where each comes from, and whether this machine
has it. `make setup` installs only SIPp; every other peer is optional, so a missing one is
reported as not installed (in the machine record and the report), never a FileNotFoundError."""

from __future__ import annotations

import enum
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NOT_INSTALLED = "not installed"
VERSION_TIMEOUT_S = 10.0


class Installer(enum.Enum):
    APT = "Debian package"
    PIP = "pip package"


@dataclass(frozen=True)
class Program:
    """A command and the package that provides it."""

    command: str
    package: str
    installer: Installer

    def path(self) -> str | None:
        """Where the command is, or None. pip puts commands in this venv's bin, which need not
        be on PATH; apt ones are looked up on PATH (so hiding them from PATH hides them)."""
        if self.installer is Installer.PIP:
            return shutil.which(self.command, path=str(Path(sys.executable).parent))
        return shutil.which(self.command)

    def describe(self) -> str:
        return f"{self.command} from {self.installer.value} {self.package}"

    def version(self, args: list[str], pattern: str) -> str:
        """The first group of `pattern` in what `command *args` prints, or "not installed"."""
        path = self.path()
        if path is None:
            return NOT_INSTALLED
        try:
            out = subprocess.run(
                [path, *args], capture_output=True, text=True, check=False,
                timeout=VERSION_TIMEOUT_S,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"not runnable: {exc}"
        match = re.search(pattern, out.stdout + out.stderr)
        return match.group(1) if match else "unknown"


SIPP = Program("sipp", "sip-tester", Installer.APT)
KAMAILIO = Program("kamailio", "kamailio", Installer.APT)
RTPENGINE = Program("rtpengine", "rtpengine-daemon", Installer.APT)
B2BUA_SIMPLE = Program("b2bua_simple", "sippy==2.5.0", Installer.PIP)
PY_SPY = Program("py-spy", "py-spy", Installer.PIP)
# What the load scenarios themselves drive, whatever the peer.
SCENARIO_PROGRAMS = {
    "setup": (SIPP,), "media": (SIPP,), "relay": (), "acd": (), "security": (), "api": (SIPP,),
    "acd-calls": (SIPP,), "conference": (),
}  # fmt: skip


def missing(programs: tuple[Program, ...]) -> list[Program]:
    return [p for p in programs if p.path() is None]
