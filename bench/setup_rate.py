"""Scenario 1, call setup rate: SIPp uac -> peer -> SIPp uas, INVITE to BYE, no media.

Per step the peer's CPU per call comes from /proc before and after (the whole process tree), the
failures from both SIPp ends (the uac's verdict and B legs the uas never saw closed), and the
INVITE-to-200 times from the uac's response-time trace.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import procstat, sipp
from bench.display import StepReporter
from bench.peers import Peer
from bench.peers.base import free_port

UAS_START_DEADLINE_S = 5.0
UAS_DRAIN_S = 8.0  # the uas keeps each call 1 s after BYE (its timewait), plus slack


@dataclass(frozen=True)
class SetupStep:
    rate: float
    calls: int
    achieved_rate: float
    cpu_ms_per_call: float
    failed_calls: int
    uac_failed: int
    uas_unfinished: int
    failed_by_cause: dict[str, int]
    setup_p50_ms: float | None
    setup_p99_ms: float | None
    uac_exit_status: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def wait_for_file(path: Path, deadline_s: float) -> None:
    stop = time.monotonic() + deadline_s
    while not path.exists():
        if time.monotonic() > stop:
            raise RuntimeError(f"SIPp uas did not start: no {path} after {deadline_s:.0f} s")
        time.sleep(0.05)


def run_step(peer: Peer, workdir: Path, rate: float, calls: int, report: StepReporter) -> SetupStep:
    timeout_s = calls / rate + 30
    uas = sipp.start_uas(
        workdir, peer.uas_port, calls, timeout_s + UAS_DRAIN_S, answer_port=free_port()
    )
    try:
        wait_for_file(workdir / "uas_stat.csv", UAS_START_DEADLINE_S)
        cpu_before = procstat.cpu_seconds(peer.pids)
        uac = sipp.run_uac(
            workdir,
            target_port=peer.sip_port,
            local_port=free_port(),
            calls=calls,
            rate=rate,
            timeout_s=timeout_s,
            on_progress=lambda c: report(c.successful, c.failed),
        )
    finally:
        uas_counts = sipp.stop_uas(uas, calls, workdir, UAS_DRAIN_S)
    cpu_after = procstat.cpu_seconds(peer.pids)
    peer.check_alive()
    created = max(uac.counts.created, 1)
    unfinished = max(0, uac.counts.created - uas_counts.successful)
    return SetupStep(
        rate=rate,
        calls=uac.counts.created,
        achieved_rate=round(uac.counts.created / uac.wall_s, 1) if uac.wall_s else 0.0,
        cpu_ms_per_call=round((cpu_after - cpu_before) * 1000 / created, 3),
        # A call failed if the uac said so or its B leg was never closed at the uas; the two
        # overlap, so the larger count is the honest lower bound.
        failed_calls=max(uac.counts.failed, unfinished),
        uac_failed=uac.counts.failed,
        uas_unfinished=unfinished,
        failed_by_cause=uac.counts.failed_by_cause,
        setup_p50_ms=sipp.percentile(uac.setup_ms, 0.50),
        setup_p99_ms=sipp.percentile(uac.setup_ms, 0.99),
        uac_exit_status=uac.exit_status,
    )


def highest_clean_rate(steps: list[SetupStep]) -> float | None:
    """The highest rate whose step, and every slower step, had no failed call."""
    best = None
    for step in sorted(steps, key=lambda s: s.rate):
        if step.failed_calls:
            break
        best = step.rate
    return best
