"""ACD scenario: the time of one routing decision with 5 000 agents in 500 queues.

Pure CPU, no SIP. Like every scenario it drives the switch through its command:
`softswitch acd-bench` builds the engine (softswitch/acd/benchmark.py) and times two decisions,
a caller arriving in a queue with free agents, and an agent freeing up while 5 callers wait in
each of its 10 queues, for the fast dispatch and for the simple one the tests use as its oracle.
Wall clock and CPU (thread time): on a shared machine the wall clock's tail is mostly other
processes taking the core.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from bench.display import Display
from bench.peers.softswitch import softswitch_command

GOAL_MS = 1.0
TIMEOUT_S = 600


def run_scenario(display: Display, samples: int = 2000) -> dict[str, Any]:
    command = [str(softswitch_command()), "acd-bench", "--samples", str(samples)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        display.note(f"[yellow]acd: {command} failed: {done.stderr.strip()[-300:]}")
        return {"unavailable": done.stderr.strip()[-300:]}
    results: dict[str, Any] = json.loads(done.stdout)
    results["goal_ms"] = GOAL_MS
    for name, s in results["decisions"].items():
        display.note(
            f"acd: {name}: p50 {s['p50_us']:.0f} µs, p99 {s['p99_us']:.0f} µs"
            f" (CPU p50 {s['cpu_p50_us']:.0f} µs, p99 {s['cpu_p99_us']:.0f} µs)"
        )
    return results
