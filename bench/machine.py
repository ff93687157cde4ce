"""Installing what a bench run needs, and the facts about this machine that every result
carries (a peer that is not installed says so there)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from bench import sipp
from bench.peers import PEERS
from bench.programs import PY_SPY, Installer, Program

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def ensure_tools(programs: Iterable[Program], say: Callable[[str], None] = print) -> None:
    """Install the missing ones: apt as root, pip into this venv. What cannot be installed is
    said and left missing; the caller decides whether the run can go on without it."""
    wanted = {p for p in programs if p.path() is None}
    apt = sorted({p.package for p in wanted if p.installer is Installer.APT})
    pip = sorted({p.package for p in wanted if p.installer is Installer.PIP})
    if apt and os.geteuid() != 0:
        say(f"cannot install {', '.join(apt)}: apt needs root")
    elif apt:
        say(f"installing {' '.join(apt)} with apt")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-qq"], env, say)
        _run(["apt-get", "install", "-y", "-qq", *apt], env, say)
    if pip:
        say(f"installing {' '.join(pip)} with pip")
        constraints = ["-c", str(CONSTRAINTS)] if CONSTRAINTS.exists() else []
        _run([sys.executable, "-m", "pip", "install", "-q", *constraints, *pip], None, say)


def _run(command: list[str], env: dict[str, str] | None, say: Callable[[str], None]) -> None:
    try:
        done = subprocess.run(command, env=env, check=False)
    except OSError as exc:
        say(f"{command[0]}: {exc}")
        return
    if done.returncode:
        say(f"{' '.join(command[:3])} … failed with status {done.returncode}")


def git_commit(repo: Path) -> str:
    if shutil.which("git") is None:
        return "nogit"
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
            "py-spy": PY_SPY.version(["--version"], r"py-spy (\S+)"),
        },
    }
