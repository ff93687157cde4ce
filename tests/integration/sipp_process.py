"""SIPp runs bounded in time, with their messages traced to a file and their counters parsed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from running_switch import LOCAL, SIPP_MEDIA_BAND, free_port, free_rtp_range


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str
    messages: str

    def summary(self) -> str:
        return (
            f"sipp exit {self.returncode}, {self.successful} successful, {self.failed} failed\n"
            f"{self.output[-3000:]}"
        )


def _counter(output: str, name: str) -> int:
    """The cumulative column of a counter row on SIPp's final statistics screen."""
    rows = re.findall(rf"^\s*{name}\s*\|\s*\d+\s*\|\s*(\d+)", output, re.MULTILINE)
    return int(rows[-1]) if rows else -1


class Sipp:
    """One SIPp process with a bounded run time, its messages traced to a file for diagnosis."""

    def __init__(self, workdir: Path, name: str, args: list[str], timeout_s: float) -> None:
        self.name = name
        self.sip_port = free_port()
        self.message_file = workdir / f"sipp-{name}-messages.log"
        self.output_file = workdir / f"sipp-{name}.out"
        self.timeout_s = timeout_s
        media_port = free_rtp_range(8, SIPP_MEDIA_BAND)[0]
        command = [
            "sipp",
            *args,
            "-i",
            LOCAL,
            "-mi",
            LOCAL,
            "-mp",
            str(media_port),
            "-nostdin",
            "-timeout",
            f"{timeout_s:g}s",
            "-timeout_error",
            "-trace_msg",
            "-message_file",
            str(self.message_file),
        ]
        if "-p" not in args:
            command += ["-p", str(self.sip_port)]
        self.command = command
        with open(self.output_file, "wb") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
            )

    def result(self) -> SippResult:
        """Wait for SIPp to finish (its own -timeout bounds it; a margin covers shutdown)."""
        try:
            self.proc.wait(self.timeout_s + 10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        output = self.output_file.read_text(errors="replace")
        messages = (
            self.message_file.read_text(errors="replace") if self.message_file.exists() else ""
        )
        return SippResult(
            self.proc.returncode,
            _counter(output, "Successful call"),
            _counter(output, "Failed call"),
            output,
            messages,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
