"""The relay scenario end to end, tiny: a few hundred packets each way through the switch and
the bare relays, so the CPU-per-packet harness cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fresh_machine import FreshBench

from bench import relay, report
from bench.peers.rtpengine import bdecode, bencode

PPS = 2000  # enough relayed packets that the peer's CPU is several 10 ms clock ticks
STREAMS = 4
SECONDS = 1


def relay_step(pps: float, cpu: float, loss: float) -> dict[str, Any]:
    return {
        "pps": pps, "streams": 200, "seconds": 5, "sent": 100, "relayed": 100,
        "achieved_pps": pps, "loss_pct": loss, "jitter_p99_ms": 0.5, "cpu_s": 1.0,
        "cpu_us_per_packet": cpu, "generator_cpu_us_per_packet": 20.0,
    }  # fmt: skip


def test_ng_messages_round_trip_through_bencode() -> None:
    message = {"command": "offer", "call-id": "c1", "flags": ["trust-address"], "n": 3}
    assert bencode(message) == (b"d7:call-id2:c17:command5:offer5:flagsl13:trust-addresse1:ni3ee")
    assert bdecode(bencode(message)) == message


def test_default_sessions_carry_the_rate_as_20_ms_g711_calls() -> None:
    assert relay.default_streams(20000) == 200
    assert relay.default_streams(60000) == 600


def test_results_md_has_the_relay_table_with_our_ratio_to_each_peer(tmp_path: Path) -> None:
    results = {
        "command": "softswitch-bench --scenario relay",
        "machine": {
            "date": "2026-01-01T00:00:00+00:00", "commit": "abc1234", "cpu_model": "cpu",
            "cores": 2, "kernel": "6", "python": "3.11", "versions": {"sipp": "3.6.1"},
        },
        "scenarios": {"relay": {"syscall_floor_us": 7.5, "peers": {
            "softswitch": {"steps": [relay_step(20000, 20.0, 0.0)]},
            "rtpengine": {"steps": [relay_step(20000, 25.0, 0.0)]},
            "uvloop-relay": {"steps": [relay_step(20000, 16.0, 0.0)]},
        }}},
    }  # fmt: skip
    md = report.write_markdown(results, tmp_path / "RESULTS.md", []).read_text()
    assert "| packets/s | softswitch (µs) | rtpengine (µs) | uvloop-relay (µs) |" in md
    assert "| 20000 | 20 | 25 | 16 | 0.80× | 1.25× |" in md
    assert "costs 7.5 µs of CPU" in md
    assert "| Relay CPU per packet no more than rtpengine's (userspace) | met |" in md


@pytest.mark.integration
def test_tiny_relay_run_reports_rtpengine_missing_and_measures_the_rest(
    tmp_path: Path, fresh_bench: FreshBench
) -> None:
    """The suite's relay peers on a fresh machine: rtpengine is not installed, the switch and
    both floor relays need nothing the Makefile does not install."""
    out = tmp_path / "results"
    run = fresh_bench(
        [
            "--scenario", "relay", "--pps", str(PPS), "--streams", str(STREAMS),
            "--duration", str(SECONDS), "--out", str(out), "--no-update-results-md",
        ],
        180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    scenario = json.loads((out / "results.json").read_text())["scenarios"]["relay"]
    assert scenario["syscall_floor_us"] > 0
    peers = scenario["peers"]
    assert set(peers) == {
        "softswitch", "softswitch-recording", "rtpengine", "uvloop-relay", "asyncio-relay"
    }  # fmt: skip
    # The recording switch decodes and re-encodes one 20 ms frame a tick: at this step's
    # 250 packets/s per stream (not a phone's 50) it sends fewer than it gets, by design.
    recording = peers.pop("softswitch-recording")
    assert "error" not in recording, recording.get("error")
    (step,) = recording["steps"]
    assert step["relayed"] > 0 and step["cpu_us_per_packet"] > 0
    rtpengine = peers.pop("rtpengine")
    assert rtpengine == {
        "steps": [],
        "not_installed": "rtpengine from Debian package rtpengine-daemon",
    }
    for name, peer in peers.items():
        assert "error" not in peer, (name, peer.get("error"))
        (step,) = peer["steps"]
        assert step["streams"] == STREAMS
        assert step["sent"] == PPS * SECONDS
        # Loopback at 250 packets/s per stream: anything missing was lost by the peer.
        assert step["relayed"] == step["sent"], (name, step)
        assert step["loss_pct"] == 0
        assert step["cpu_us_per_packet"] > 0
        assert step["jitter_p99_ms"] is not None
    assert (out / "relay-cpu-per-packet.png").stat().st_size > 0
