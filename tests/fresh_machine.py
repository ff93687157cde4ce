"""What a fresh machine has after `make setup`: the programs the Makefile installs, and a PATH
holding only those, so that a test sees what a new user's machine has, not this one."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"
# The `fresh_bench` fixture (tests/bench/conftest.py): bench CLI arguments and a timeout in s.
FreshBench = Callable[[list[str], float], subprocess.CompletedProcess[str]]


def makefile_programs() -> tuple[str, ...]:
    """The commands `make system-deps` installs when missing: each is tested with `command -v`."""
    recipe = re.search(r"^system-deps:.*\n((?:\t.*\n)*)", MAKEFILE.read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no system-deps target"
    return tuple(dict.fromkeys(re.findall(r"command -v (\S+)", recipe.group(1))))


def fresh_path(folder: Path) -> str:
    """A PATH of one folder holding a link to each program the Makefile installs, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in makefile_programs():
        found = shutil.which(name)
        assert found, f"{name} is not on PATH, but `make setup` installs it"
        (folder / name).symlink_to(found)
    return str(folder)
