"""The security scenario: hypothesis fuzzing of the switch's SIP parser at bench scale.

It runs the test suite's own fuzz test (tests/sip/test_parser_fuzz.py) with at least 100 000
inputs in a child pytest, so the bench still imports no module of the switch, and reports how
many inputs ran, how long it took and whether any raised an undeclared exception.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.display import Display

REPO = Path(__file__).resolve().parent.parent
FUZZ_TEST = REPO / "tests" / "sip" / "test_parser_fuzz.py"
DEFAULT_INPUTS = 100_000
TIMEOUT_S = 1800.0


def run_scenario(inputs: int, out_dir: Path, display: Display) -> dict[str, Any]:
    workdir = out_dir / "security"
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "fuzz.json"
    env = dict(os.environ, SOFTSWITCH_FUZZ_EXAMPLES=str(inputs), SOFTSWITCH_FUZZ_REPORT=str(report))
    display.note(f"security: fuzzing the SIP parser with {inputs} hypothesis inputs")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(FUZZ_TEST), "-q", "-p", "no:cacheprovider"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        output, status = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        output, status = f"timed out after {TIMEOUT_S:g} s", -1
    (workdir / "pytest.out").write_text(output)
    result: dict[str, Any] = {"peers": {}, "requested_inputs": inputs, "pytest_exit": status}
    if report.exists():  # the test's own count, written also when an input failed
        result["fuzz"] = json.loads(report.read_text())
    else:  # it never got to write one (an import error, the timeout)
        result["fuzz"] = {"inputs": None, "undeclared_exceptions": None}
    if status != 0:
        # A failing input: pytest's output holds hypothesis' shrunk example and the exception.
        result["fuzz"]["failure"] = output[-4000:]
    result["fuzz"]["wall_s"] = round(time.monotonic() - started, 1)
    return result
