"""The bench CLI as a fresh machine runs it: PATH holds only what the Makefile installs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_machine import FreshBench, fresh_path


@pytest.fixture
def fresh_bench(tmp_path: Path) -> FreshBench:
    """Runs `python -m bench ARGS --no-install --no-profile` with the optional peers hidden."""
    env = {**os.environ, "PATH": fresh_path(tmp_path / "fresh-bin")}

    def run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bench", *args, "--no-install", "--no-profile"],
            capture_output=True, text=True, timeout=timeout_s, check=False, env=env,
        )  # fmt: skip

    return run
