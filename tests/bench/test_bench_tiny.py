"""A tiny bench run against the real switch, so the harness cannot rot unnoticed. It runs with a
PATH holding only what the Makefile installs: the optional peers (Kamailio, rtpengine, sippy) are
absent as on a fresh machine, whatever this one has, and must be reported as not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fresh_machine import FreshBench

from bench.programs import B2BUA_SIMPLE, NOT_INSTALLED

pytestmark = pytest.mark.integration

CALLS = 10
CONCURRENT = 4


def test_tiny_run_measures_the_switch_and_reports_missing_peers(
    tmp_path: Path, fresh_bench: FreshBench
) -> None:
    out = tmp_path / "results"
    md = tmp_path / "RESULTS.md"
    run = fresh_bench(
        [
            "--suite", "quick", "--scenario", "setup", "--scenario", "media",
            "--scenario", "conference", "--rooms", "2", "--rate", "20", "--calls", str(CALLS),
            "--concurrent", str(CONCURRENT), "--out", str(out), "--results-md", str(md),
        ],
        240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    results = json.loads((out / "results.json").read_text())

    setup_peers = results["scenarios"]["setup"]["peers"]
    setup = setup_peers["softswitch"]
    assert "error" not in setup, setup.get("error")
    (step,) = setup["steps"]
    assert step["calls"] == CALLS
    assert step["failed_calls"] == 0
    assert step["cpu_ms_per_call"] > 0
    assert step["setup_p99_ms"] is not None
    assert setup["highest_clean_rate"] == 20

    media_peers = results["scenarios"]["media"]["peers"]
    media = media_peers["softswitch"]
    assert "error" not in media, media.get("error")
    (mstep,) = media["steps"]
    assert mstep["calls"] == CONCURRENT
    assert mstep["failed_calls"] == 0
    assert mstep["rtp_received"] > 0
    assert mstep["loss_pct"] < 1.0

    # The suite's other peers: hidden from PATH, so recorded as not installed and not measured.
    for peers, name in [(setup_peers, "kamailio"), (media_peers, "kamailio-rtpengine")]:
        assert peers[name]["steps"] == []
        assert "kamailio from Debian package kamailio" in peers[name]["not_installed"]
    # sippy's b2bua_simple lives in the venv (`make bench` puts it there), which PATH cannot hide.
    if B2BUA_SIMPLE.path() is None:
        assert "b2bua_simple from pip package sippy" in setup_peers["sippy"]["not_installed"]
    versions = results["machine"]["versions"]
    for name in ("kamailio", "kamailio-rtpengine", "rtpengine"):
        assert versions[name] == NOT_INSTALLED
    assert versions["sipp"][0].isdigit()

    text = md.read_text()
    assert "- **kamailio** not installed: needs kamailio from Debian package kamailio" in text
    assert "kamailio not installed, kamailio-rtpengine not installed" in text
    assert "| 20 | " in text  # the switch's own row in the setup tables
    assert (tmp_path / "plots" / "setup-cpu-per-call.png").stat().st_size > 0

    rooms = results["scenarios"]["conference"]["peers"]["softswitch-conference"]
    assert "error" not in rooms, rooms.get("error")
    (cstep,) = rooms["steps"]
    assert cstep["legs"] == 6 and cstep["sent"] > 0
    assert cstep["silent_legs"] == 0  # every participant got the mix back
    # The mix keeps its 50 packets/s per participant over the blast (5 s) and the drain.
    assert cstep["received"] >= 0.9 * cstep["sent"]
    assert cstep["loss_pct"] < 1.0
    assert cstep["rooms_per_core"] > 0
    assert rooms["max_rooms_under_0_1_pct_loss"] in (None, 2)
    assert "## Conferences (rooms of 3" in text
    assert results["machine"]["cores"] >= 1
    assert (out / "setup-cpu-per-call.png").stat().st_size > 0


def test_a_missing_peer_named_in_peers_is_refused_before_any_load(
    tmp_path: Path, fresh_bench: FreshBench
) -> None:
    out = tmp_path / "results"
    run = fresh_bench(
        ["--scenario", "setup", "--peers", "softswitch,kamailio", "--out", str(out)], 60
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "kamailio is not installed: it needs kamailio from Debian package kamailio" in run.stderr
    assert "leave those peers out of --peers" in run.stderr
    assert not out.exists()  # nothing was started or measured


def test_tiny_api_run_measures_latency_and_fan_out(tmp_path: Path, fresh_bench: FreshBench) -> None:
    """`--scenario api` in miniature: 5 calls, 5 WebSocket subscribers, holds and resumes."""
    out = tmp_path / "results"
    md = tmp_path / "RESULTS.md"
    run = fresh_bench(
        [
            "--scenario", "api", "--subscribers", "5", "--api-calls", "5",
            "--api-requests", "20", "--out", str(out), "--results-md", str(md),
        ],
        180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    api = json.loads((out / "results.json").read_text())["scenarios"]["api"]
    assert "error" not in api, api.get("error")
    assert api["calls_up_during_requests"] == 5
    assert api["sipp_exit"] == 0  # every call answered every hold and resume, then hung up
    # Every subscriber saw every call's created, answered and ended events.
    assert api["deliveries"] >= api["deliveries_at_least"] == 5 * 5 * 3
    assert 0 < api["fanout_p50_ms"] <= api["fanout_p99_ms"]
    assert (api["list_calls_requests"], api["hold_requests"], api["resume_requests"]) == (20, 5, 5)
    for key in ("list_calls", "hold", "resume"):
        assert 0 < api[f"{key}_p50_ms"] <= api[f"{key}_p99_ms"]
    # The switch's half of the fan-out, from its /metrics: it wrote every delivery that arrived.
    assert api["switch_writes"] == api["deliveries"] and api["switch_events_dropped"] == 0
    assert 0 < api["switch_write_p50_le_ms"] <= api["switch_write_p99_le_ms"]
    assert api["switch_flushes"] > 0 and api["switch_cpu_s"] > 0
    assert api["receive_lag_p50_ms"] is not None
    text = md.read_text()
    assert "## CTI API (`--scenario api`)" in text
    assert "| `PUT .../legs/{leg}/hold` | 5 |" in text
    assert "| the switch: event timestamp to its socket write (bucket bounds) |" in text


def test_tiny_security_run_counts_the_fuzz_inputs(tmp_path: Path, fresh_bench: FreshBench) -> None:
    """`--scenario security` in miniature: the count is what the fuzz test ran, not a constant."""
    out = tmp_path / "results"
    md = tmp_path / "RESULTS.md"
    run = fresh_bench(
        ["--scenario", "security", "--fuzz-inputs", "300", "--out", str(out),
         "--results-md", str(md)],
        180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    security = json.loads((out / "results.json").read_text())["scenarios"]["security"]
    assert security["pytest_exit"] == 0
    fuzz = security["fuzz"]
    assert (fuzz["inputs"], fuzz["undeclared_exceptions"], fuzz["broken_round_trips"]) == (
        300, 0, 0,
    )  # fmt: skip
    assert "| 300 | 0 | 0 |" in md.read_text()
