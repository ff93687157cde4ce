"""What the bench needs installed, and the facts about this machine that every result carries."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import sipp
from bench.peers import PEERS

# Command -> Debian package, installed with apt as the Makefile installs SIPp.
APT_TOOLS = {"sipp": "sip-tester", "kamailio": "kamailio", "rtpengine": "rtpengine-daemon"}
PIP_TOOLS = {"b2bua_simple": "sippy==2.5.0", "py-spy": "py-spy"}


def ensure_tools(say: Callable[[str], None] = print) -> None:
    """Install missing load tools and peers: apt as root, pip into this venv."""
    missing = [pkg for cmd, pkg in APT_TOOLS.items() if shutil.which(cmd) is None]
    if missing:
        if os.geteuid() != 0:
            raise RuntimeError(f"missing {', '.join(missing)}: install them with apt as root")
        say(f"installing {' '.join(missing)} with apt")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    bin_dir = Path(sys.executable).parent
    wanted = [spec for cmd, spec in PIP_TOOLS.items() if not (bin_dir / cmd).exists()]
    if wanted:
        say(f"installing {' '.join(wanted)} with pip")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *wanted], check=True)


def git_commit(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() or "nogit"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(repo: Path) -> dict[str, object]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(repo),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            "sipp": sipp.version(),
            **{name: peer.version() for name, peer in PEERS.items()},
        },
    }
