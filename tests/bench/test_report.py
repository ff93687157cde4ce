"""RESULTS.md leads with our ratio to each peer, measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report


def step(rate: float, cpu: float, failed: int, p99: float) -> dict[str, Any]:
    return {
        "rate": rate, "calls": 100, "cpu_ms_per_call": cpu, "failed_calls": failed,
        "setup_p50_ms": 0.0, "setup_p99_ms": p99,
    }  # fmt: skip


def results() -> dict[str, Any]:
    return {
        "command": "softswitch-bench --suite quick",
        "machine": {
            "date": "2026-01-01T00:00:00+00:00", "commit": "abc1234", "cpu_model": "cpu",
            "cores": 2, "kernel": "6", "python": "3.11", "versions": {"sipp": "3.6.1"},
        },
        "scenarios": {
            "setup": {"peers": {
                "softswitch": {"steps": [step(100, 1.0, 0, 2.0), step(300, 1.2, 0, 4.0)],
                               "highest_clean_rate": 300},
                "kamailio": {"steps": [step(100, 0.5, 0, 0.0), step(300, 0.3, 0, 1.0)],
                             "highest_clean_rate": 300},
                "sippy": {"steps": [step(100, 4.0, 1, 28.0), step(300, 4.8, 90, 700.0)],
                          "highest_clean_rate": None},
            }},
            "acd": {"unavailable": "ACD is not available yet."},
        },
        "notes": ["a note"],
        "profiles": [],
    }  # fmt: skip


def test_markdown_has_figures_ratios_goals_and_plots(tmp_path: Path) -> None:
    data = results()
    plots = report.make_plots(data, tmp_path)
    assert {p.name for p in plots} == {"setup-cpu-per-call.png", "setup-p99.png"}
    md = report.write_markdown(data, tmp_path / "RESULTS.md", plots).read_text()
    assert "| calls/s | softswitch (ms) | kamailio (ms) | sippy (ms) | ours / kamailio |" in md
    assert "| 300 | 1.2 | 0.3 | 4.8 | 4.00× | 0.25× |" in md
    assert "| CPU per call ≤ 2.5× Kamailio's | **not met** | ours / kamailio = 3×" in md
    assert "| 0 failed calls at 300 calls/s | met | 0 failed |" in md
    assert "ACD is not available yet." in md
    assert "softswitch-bench --suite quick" in md
    assert "![setup-p99](plots/setup-p99.png)" in md
    assert (tmp_path / "plots" / "setup-p99.png").exists()
