"""A tiny bench run against the real switch, so the harness cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CALLS = 10
CONCURRENT = 4


def test_tiny_run_measures_setup_and_media_through_the_switch(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [
            sys.executable, "-m", "bench", "--suite", "quick", "--peers", "softswitch",
            "--scenario", "setup", "--scenario", "media", "--scenario", "conference",
            "--rate", "20", "--calls", str(CALLS), "--concurrent", str(CONCURRENT),
            "--out", str(out), "--no-update-results-md", "--no-install", "--no-profile",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())

    setup = results["scenarios"]["setup"]["peers"]["softswitch"]
    assert "error" not in setup, setup.get("error")
    (step,) = setup["steps"]
    assert step["calls"] == CALLS
    assert step["failed_calls"] == 0
    assert step["cpu_ms_per_call"] > 0
    assert step["setup_p99_ms"] is not None
    assert setup["highest_clean_rate"] == 20

    media = results["scenarios"]["media"]["peers"]["softswitch"]
    assert "error" not in media, media.get("error")
    (mstep,) = media["steps"]
    assert mstep["calls"] == CONCURRENT
    assert mstep["failed_calls"] == 0
    assert mstep["rtp_received"] > 0
    assert mstep["loss_pct"] < 1.0

    assert "not available yet" in results["scenarios"]["conference"]["unavailable"]
    assert results["machine"]["cores"] >= 1
    assert (out / "setup-cpu-per-call.png").stat().st_size > 0
