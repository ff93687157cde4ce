"""Turning one run's figures into results.json, PNG plots and bench/RESULTS.md.

Absolute figures move between machines and between minutes on a noisy one; the ratios of the
switch to each peer, measured in the same run, are what RESULTS.md leads with.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

US = "softswitch"
Results = dict[str, Any]


def write_json(results: Results, out_dir: Path) -> Path:
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def _steps(results: Results, scenario: str) -> dict[str, list[dict[str, Any]]]:
    peers: dict[str, dict[str, Any]] = results["scenarios"].get(scenario, {}).get("peers", {})
    return {name: peer["steps"] for name, peer in peers.items() if peer.get("steps")}


def _plot(
    path: Path,
    series: dict[str, list[dict[str, Any]]],
    x_key: str,
    y_key: str,
    title: str,
    x_label: str,
    y_label: str,
) -> Path | None:
    lines = {
        peer: [(s[x_key], s[y_key]) for s in steps if s.get(y_key) is not None]
        for peer, steps in series.items()
    }
    lines = {peer: pts for peer, pts in lines.items() if pts}
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for peer, pts in sorted(lines.items()):
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", label=peer, linewidth=2.5 if peer == US else 1.5)
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def make_plots(results: Results, out_dir: Path) -> list[Path]:
    setup = _steps(results, "setup")
    media = _steps(results, "media")
    relay = _steps(results, "relay")
    made = [
        _plot(out_dir / "setup-cpu-per-call.png", setup, "rate", "cpu_ms_per_call",
              "Call setup: CPU per call", "offered calls/s", "CPU ms per call"),
        _plot(out_dir / "setup-p99.png", setup, "rate", "setup_p99_ms",
              "Call setup: INVITE-to-200 p99", "offered calls/s", "ms (1 ms resolution)"),
        _plot(out_dir / "media-loss.png", media, "concurrent", "loss_pct",
              "Media: RTP loss", "concurrent calls", "% packets lost"),
        _plot(out_dir / "media-cpu-per-call.png", media, "concurrent", "cpu_ms_per_call",
              "Media: CPU per call", "concurrent calls", "CPU ms per call"),
        _plot(out_dir / "relay-cpu-per-packet.png", relay, "pps", "cpu_us_per_packet",
              "Relay: CPU per relayed RTP packet", "offered packets/s (both ways)",
              "CPU µs per packet"),
    ]  # fmt: skip
    return [p for p in made if p is not None]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or not theirs:
        return "–"
    return f"{ours / theirs:.2f}×"


def _table(
    steps: dict[str, list[dict[str, Any]]],
    key: str,
    x_key: str,
    x_label: str,
    unit: str,
) -> list[str]:
    peers = sorted(steps, key=lambda p: (p != US, p))
    others = [p for p in peers if p != US]
    xs = sorted({s[x_key] for peer_steps in steps.values() for s in peer_steps})
    header = [x_label, *(f"{p} ({unit})" for p in peers)]
    if US in steps:
        header += [f"ours / {p}" for p in others]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for x in xs:
        at = {p: next((s for s in steps[p] if s[x_key] == x), None) for p in peers}
        values = {p: (at[p] or {}).get(key) for p in peers}
        cells = [_fmt(x), *(_fmt(values[p]) for p in peers)]
        if US in steps:
            cells += [_ratio(values[US], values[p]) for p in others]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _peer_notes(results: Results, scenario: str) -> list[str]:
    notes = []
    peers = results["scenarios"].get(scenario, {}).get("peers", {})
    for name, peer in sorted(peers.items()):
        if peer.get("not_installed"):
            notes.append(f"- **{name}** not installed: needs {peer['not_installed']}; not measured")
        elif peer.get("error"):
            notes.append(f"- **{name}** did not run: {peer['error']}")
    return notes


def _goal(label: str, ok: bool | None, detail: str) -> str:
    mark = "not measured" if ok is None else ("met" if ok else "**not met**")
    return f"| {label} | {mark} | {detail} |"


def _setup_goals(steps: dict[str, list[dict[str, Any]]]) -> list[str]:
    def at(peer: str, rate: float, key: str) -> Any:
        for s in steps.get(peer, []):
            if s["rate"] == rate:
                return s.get(key)
        return None

    def clean_ratio(peer: str) -> float | None:
        """Mean of ours / theirs CPU per call over the rates where neither side failed a call."""
        ratios = [
            ours["cpu_ms_per_call"] / theirs["cpu_ms_per_call"]
            for ours in steps.get(US, [])
            for theirs in steps.get(peer, [])
            if ours["rate"] == theirs["rate"]
            and theirs["cpu_ms_per_call"]
            and not ours["failed_calls"]
            and not theirs["failed_calls"]
        ]
        return sum(ratios) / len(ratios) if ratios else None

    vs_kamailio, vs_sippy = clean_ratio("kamailio"), clean_ratio("sippy")
    fails_300 = at(US, 300, "failed_calls")
    p99_100 = at(US, 100, "setup_p99_ms")
    lines = ["| goal | status | measured |", "|---|---|---|"]
    lines.append(
        _goal(
            "CPU per call ≤ 2.5× Kamailio's",
            None if vs_kamailio is None else vs_kamailio <= 2.5,
            f"ours / kamailio = {_fmt(vs_kamailio)}× (mean over rates where both had 0 failures)",
        )
    )
    lines.append(
        _goal(
            "CPU per call ≥ 4× better than sippy",
            None if vs_sippy is None else vs_sippy <= 0.25,
            f"ours / sippy = {_fmt(vs_sippy)}× (mean over rates where both had 0 failures)",
        )
    )
    lines.append(
        _goal(
            "0 failed calls at 300 calls/s",
            None if fails_300 is None else fails_300 == 0,
            f"{_fmt(fails_300)} failed",
        )
    )
    lines.append(
        _goal(
            "INVITE-to-200 p99 ≤ 5 ms at 100 calls/s",
            None if p99_100 is None else p99_100 <= 5,
            f"{_fmt(p99_100)} ms",
        )
    )
    return lines


def _acd_section(results: Results) -> list[str]:
    scenario = results["scenarios"].get("acd")
    if scenario is None or "decisions" not in scenario:
        return []
    out = [
        "",
        f"## ACD routing decision ({scenario['agents']} agents, {scenario['queues']} queues,"
        f" goal < {scenario['goal_ms']:g} ms)",
        "",
        "| decision | p50 | p99 | max | CPU p50 | CPU p99 | samples |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in scenario["decisions"].items():
        out.append(
            f"| {name} | {s['p50_us']:.0f} µs | {s['p99_us']:.0f} µs | {s['max_us']:.0f} µs"
            f" | {s['cpu_p50_us']:.0f} µs | {s['cpu_p99_us']:.0f} µs | {s['samples']} |"
        )
    return out


def _acd_calls_section(results: Results) -> list[str]:
    s = results["scenarios"].get("acd-calls")
    if s is None or "buckets" not in s:
        return []
    return [
        "",
        f"## ACD end to end: queue entry to the agent's INVITE (goal p99 < {s['goal_ms']:g} ms)",
        "",
        f"SIPp uac: {s['calls']} calls at {s['rate']:g}/s into queue 7000, held {s['hold_ms']} ms;"
        f" {s['agents']} agents answered by one SIPp uas; {s['successful']} ok,"
        f" {s['failed']} failed. Figure: the switch's softswitch_queue_offer_seconds for the"
        f" {s['offered_at_once']:.0f} callers offered at once (bucket upper bounds).",
        "",
        "| p50 | p99 |",
        "|---|---|",
        f"| <= {s['p50_le_ms']} ms | <= {s['p99_le_ms']} ms |",
    ]


def _api_section(results: Results) -> list[str]:
    api = results["scenarios"].get("api")
    if api is None:
        return []
    out = ["", "## CTI API (`--scenario api`)", ""]
    if "error" in api:
        return [*out, f"Not measured: {api['error']}"]
    out += [
        f"{api['calls_up_during_requests']} of {api['calls']} calls up (SIPp, echo), "
        f"{api['subscribers']} WebSocket subscribers on /api/v1/events; requests one after "
        "another from one client.",
        "",
        "| measure | requests | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for label, key in [
        ("`GET /api/v1/calls` (every call listed)", "list_calls"),
        ("`PUT .../legs/{leg}/hold`", "hold"),
        ("`PUT .../legs/{leg}/resume`", "resume"),
    ]:
        out.append(
            f"| {label} | {api[key + '_requests']} | {_fmt(api[key + '_p50_ms'])} ms"
            f" | {_fmt(api[key + '_p99_ms'])} ms |"
        )
    out.append(
        f"| event fan-out, event timestamp to arrival ({api['deliveries']} deliveries) | | "
        f"{_fmt(api['fanout_p50_ms'])} ms | {_fmt(api['fanout_p99_ms'])} ms "
        f"(max {_fmt(api['fanout_max_ms'])} ms) |"
    )
    if api.get("switch_writes") is not None:  # the two halves of the fan-out (bench/api_bench.py)
        out += [
            f"| the switch: event timestamp to its socket write (bucket bounds) | "
            f"{_fmt(api['switch_writes'])} | ≤ {_fmt(api['switch_write_p50_le_ms'])} ms | "
            f"≤ {_fmt(api['switch_write_p99_le_ms'])} ms (mean {_fmt(api['switch_write_mean_ms'])}"
            " ms) |",
            f"| the switch: a turn's writes to every socket | {_fmt(api['switch_flushes'])} | "
            f"mean {_fmt(api['switch_flush_mean_ms'])} ms | "
            f"≤ {_fmt(api['switch_flush_p99_le_ms'])} ms |",
            f"| the receiver: its event loop's lag (5 ms timer) | | "
            f"{_fmt(api['receive_lag_p50_ms'])} ms | {_fmt(api['receive_lag_p99_ms'])} ms |",
            "",
            f"The switch used {_fmt(api['switch_cpu_s'])} s of CPU over the measurement; "
            f"{_fmt(api['switch_events_dropped'])} events were dropped.",
        ]
    return out


def _relay_section(results: Results) -> list[str]:
    relay = _steps(results, "relay")
    scenario = results["scenarios"].get("relay")
    if scenario is None:
        return []
    out = ["", "## Relaying RTP (sessions set up first, then 172-byte RTP both ways)", ""]
    out += _peer_notes(results, "relay")
    floor = scenario.get("syscall_floor_us")
    if floor is not None:
        out += [
            f"Syscall floor on this machine during the run: one loopback sendto plus one recv of "
            f"a 172-byte packet costs {_fmt(floor)} µs of CPU in a tight loop; no relay that "
            "receives and sends each packet can go below it.",
        ]
    if not relay:
        return out
    for title, key, unit in [
        ("CPU per relayed packet", "cpu_us_per_packet", "µs"),
        ("Packet loss", "loss_pct", "%"),
        ("Packets/s achieved (both ways)", "achieved_pps", "pkt/s"),
        ("Jitter p99 over streams (RFC 3550, transit through the peer)", "jitter_p99_ms", "ms"),
        ("Load generator CPU per packet sent (both blasters)", "generator_cpu_us_per_packet", "µs"),
        ("Sessions", "streams", "sessions"),
    ]:
        out += ["", f"### {title}", ""]
        out += _table(relay, key, "pps", "packets/s", unit)
    ours = [s for s in relay.get(US, []) if s["loss_pct"] == 0 and s["cpu_us_per_packet"]]
    theirs = {s["pps"]: s for s in relay.get("rtpengine", []) if s["loss_pct"] == 0}
    ratios = [
        s["cpu_us_per_packet"] / theirs[s["pps"]]["cpu_us_per_packet"]
        for s in ours
        if s["pps"] in theirs and theirs[s["pps"]]["cpu_us_per_packet"]
    ]
    ratio = sum(ratios) / len(ratios) if ratios else None
    out += ["", "### Against our goals", "", "| goal | status | measured |", "|---|---|---|"]
    out.append(
        _goal(
            "Relay CPU per packet no more than rtpengine's (userspace)",
            None if ratio is None else ratio <= 1,
            f"ours / rtpengine = {_fmt(ratio)}× (mean over rates where both lost nothing)",
        )
    )
    return out


def _conference_section(results: Results) -> list[str]:
    scenario = results["scenarios"].get("conference")
    if scenario is None or "peers" not in scenario:
        return []
    out = ["", "## Conferences (rooms of 3 real calls, G.711 in, each hears the N−1 mix)", ""]
    for name, entry in scenario["peers"].items():
        if entry.get("error"):
            out.append(f"- **{name}** failed: {entry['error']}")
        out += [
            "| rooms | legs | loss | dropped in / lost out | jitter p99 | CPU ms per room-second "
            "| rooms per core |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in entry["steps"]:
            out.append(
                f"| {s['rooms']} | {s['legs']} | {_fmt(s['loss_pct'])} % | {s['dropped_in']} / "
                f"{s['lost_out']} | {_fmt(s['jitter_p99_ms'])} ms | {_fmt(s['cpu_ms_per_room_s'])} "
                f"| {_fmt(s['rooms_per_core'])} |"
            )
        best = entry.get("max_rooms_under_0_1_pct_loss")
        out += ["", f"Most rooms under 0.1 % loss in this run: {_fmt(best)}."]
    return out


def write_markdown(results: Results, md_path: Path, plots: Sequence[Path]) -> Path:
    """Regenerate RESULTS.md from this run; its plots are copied next to it under plots/."""
    plot_dir = md_path.parent / "plots"
    plot_dir.mkdir(exist_ok=True)
    for old in plot_dir.glob("*.png"):
        old.unlink()
    for plot in plots:
        shutil.copy(plot, plot_dir / plot.name)
    m = results["machine"]
    out = [
        "# Bench results",
        "",
        "Generated by `bench/report.py` from the latest run; do not edit by hand.",
        "",
        f"- Command: `{results['command']}`",
        f"- Date: {m['date']}, commit `{m['commit']}`",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}, "
        f"Python {m['python']}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "- Ratios are ours / theirs, measured in the same run: below 1× is better for CPU, "
        "latency and loss.",
        "",
    ]
    setup = _steps(results, "setup")
    out += ["## Call setup rate (SIPp uac → peer → SIPp uas, INVITE to BYE, no media)", ""]
    out += _peer_notes(results, "setup")
    if setup:
        tables: list[tuple[str, str, str]] = [
            ("CPU per call", "cpu_ms_per_call", "ms"),
            ("Failed calls", "failed_calls", "calls"),
            ("INVITE-to-200 p50", "setup_p50_ms", "ms"),
            ("INVITE-to-200 p99", "setup_p99_ms", "ms"),
            ("Calls placed", "calls", "calls"),
        ]
        for title, key, unit in tables:
            out += ["", f"### {title}", ""]
            out += _table(setup, key, "rate", "calls/s", unit)
        clean = {
            p: results["scenarios"]["setup"]["peers"][p].get("highest_clean_rate") for p in setup
        }
        out += ["", "### Highest rate with 0 failed calls", ""]
        out += ["| peer | calls/s |", "|---|---|"]
        out += [f"| {p} | {_fmt(r)} |" for p, r in sorted(clean.items())]
        out += ["", "### Against our goals", "", *_setup_goals(setup)]
    media = _steps(results, "media")
    out += ["", "## Concurrent calls with media (G.711, RTP both ways through the peer)", ""]
    out += _peer_notes(results, "media")
    if media:
        for title, key, unit in [
            ("Packet loss (uac → peer → echo)", "loss_pct", "%"),
            ("Jitter p99 over streams (RFC 3550, at the echo)", "jitter_p99_ms", "ms"),
            ("CPU per call", "cpu_ms_per_call", "ms"),
            ("CPU per relayed packet", "cpu_us_per_packet", "µs"),
            ("Resident memory per call", "rss_kib_per_call", "KiB"),
            ("Failed calls", "failed_calls", "calls"),
        ]:
            out += ["", f"### {title}", ""]
            out += _table(media, key, "concurrent", "calls", unit)
    out += _relay_section(results)
    out += _conference_section(results)
    out += _acd_section(results)
    out += _acd_calls_section(results)
    out += _api_section(results)
    fuzz = results["scenarios"].get("security", {}).get("fuzz")
    if fuzz:
        out += ["", "## Security: hypothesis fuzzing of the SIP parser", ""]
        out += ["| inputs | undeclared exceptions | broken round trips | seconds |",
                "|---|---|---|---|"]  # fmt: skip
        keys = ("inputs", "undeclared_exceptions", "broken_round_trips", "wall_s")
        out += ["| " + " | ".join(_fmt(fuzz.get(k)) for k in keys) + " |"]
    for name, info in results["scenarios"].items():
        if info.get("unavailable"):
            out += ["", f"## {name}", "", info["unavailable"]]
    notes: list[str] = results.get("notes", [])
    if notes:
        out += ["", "## Method notes", "", *(f"- {n}" for n in notes)]
    if plots:
        out += ["", "## Plots", ""]
        out += [f"![{p.stem}](plots/{p.name})" for p in plots]
    profiles: list[str] = results.get("profiles", [])
    if profiles:
        out += ["", "## Profiles", "", "In the run's results folder (not committed):"]
        out += [f"- `{p}`" for p in profiles]
    md_path.write_text("\n".join(out) + "\n")
    return md_path
