"""Sampling the softswitch with py-spy while a scenario loads it, and ranking where time goes.

py-spy reads the process from outside (--nonblocking: without pausing it), so the CPU figures of
the profiled run stay the switch's own.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLE_RATE_HZ = 200
_LINE = re.compile(r":\d+\)$")
TOP = 30


def py_spy() -> Path | None:
    local = Path(sys.executable).parent / "py-spy"
    if local.exists():
        return local
    found = shutil.which("py-spy")
    return Path(found) if found else None


class Profiler:
    """py-spy record on one pid until stop(), then a ranked text summary next to the raw stacks."""

    def __init__(self, pid: int, out_dir: Path, label: str) -> None:
        self.raw = out_dir / f"profile-{label}.folded"
        self.summary = out_dir / f"profile-{label}.txt"
        self.log = out_dir / f"profile-{label}.log"
        tool = py_spy()
        self.process: subprocess.Popen[bytes] | None = None
        if tool is None:
            self.summary.write_text("py-spy is not installed: no profile.\n")
            return
        self.process = subprocess.Popen(
            [str(tool), "record", "--pid", str(pid), "--format", "raw", "--output", str(self.raw),
             "--rate", str(SAMPLE_RATE_HZ), "--nonblocking"],
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> Path:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.raw.exists():
                self.summary.write_text(summarise(self.raw))
        return self.summary


def summarise(folded: Path, top: int = TOP) -> str:
    """Self and inclusive sample shares per function from py-spy's folded stacks."""
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # py-spy names frames "function (file:line)"; rank functions, not single lines.
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += count
        self_samples[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "py-spy recorded no samples.\n"
    lines = [f"{total} samples at {SAMPLE_RATE_HZ} Hz", "", "Top self time:"]
    lines += [f"{100 * n / total:6.2f} %  {f}" for f, n in self_samples.most_common(top)]
    lines += ["", "Top inclusive time:"]
    lines += [f"{100 * n / total:6.2f} %  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
