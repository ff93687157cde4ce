"""`softswitch-bench`: the same SIPp load through the switch and the reference peers, in one run.

Every load step is bounded in calls and time, and all traffic stays on 127.0.0.1. Peers whose
programs are not installed are reported as such when the suite chose them, and refused with a
clear message before any load when `--peers` named them.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from bench import (
    acd,
    acd_calls,
    api_bench,
    conference,
    machine,
    media_calls,
    relay,
    report,
    security,
    setup_rate,
)
from bench.display import Display
from bench.peers import PEERS, Peer, PeerError
from bench.peers.base import free_port
from bench.profiling import Profiler
from bench.programs import SCENARIO_PROGRAMS, Program, missing

REPO = Path(__file__).resolve().parent.parent
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
SCENARIOS = ("setup", "media", "relay", "security", "conference", "acd", "api", "acd-calls")
NOT_YET: dict[str, str] = {}
NOTES = [
    "CPU is user+system time from /proc/PID/stat of each peer's whole process tree (all "
    "Kamailio processes; Kamailio and rtpengine together), read before and after each step.",
    "Failed calls are the larger of SIPp uac's failed calls (its default behaviours, so a "
    "response arriving out of order, such as a 180 after the 200, fails the call) and calls whose "
    "B leg the SIPp uas never saw closed.",
    "Setup times come from SIPp's -trace_rtt (INVITE sent to 200 received), whose clock has 1 ms "
    "steps: 0 means under 1 ms.",
    "The uas is SIPp's built-in uas with Contact transport=udp instead of UDP: sippy 2.5.0 "
    "raises on every BYE towards transport=UDP and never releases its B legs, which makes its "
    "calls one-legged (bench/sipp_scenarios/uas.xml).",
    "Relay: sessions are set up first (ng offer/answer for rtpengine, two-leg calls from a "
    "Python UAC through the switch to a Python UAS, a socket pair per stream for the floor "
    "relays); then two bench.rtp_blaster processes (one per side, uvloop) send 172-byte RTP "
    "both ways in 1 ms bursts, 50 packets/s per stream unless --streams says otherwise. CPU per "
    "relayed packet is the peer's CPU over the blast divided by the packets that came through. "
    "The blasters, the peer and whatever else runs share the machine's cores.",
    "Kamailio runs with the fm allocator: Debian's default q_malloc costs about 3× the CPU "
    "per call. sippy runs with SIPLOG_LVL=WARN, the switch with --log-level warning.",
]


@dataclass(frozen=True)
class Suite:
    rates: tuple[float, ...]
    duration_s: float
    concurrent: tuple[int, ...]
    relay_pps: tuple[float, ...]
    scenarios: tuple[str, ...]
    peers: tuple[str, ...]
    conference_rooms: tuple[int, ...] = (100, 200, 300, 400)


ALL_PEERS = (
    "softswitch", "softswitch-recording", "kamailio", "sippy", "kamailio-rtpengine",
    "rtpengine", "uvloop-relay", "asyncio-relay",
)  # fmt: skip
RELAY_SECONDS = 5.0
SUITES = {
    "default": Suite(
        rates=(50, 100, 200, 300, 400, 800),
        duration_s=6,
        concurrent=(250, 500, 1000),
        relay_pps=(20000, 60000),
        scenarios=("setup", "media", "relay", "conference", "acd"),
        peers=ALL_PEERS,
    ),
    "quick": Suite(
        rates=(100, 300),
        duration_s=5,
        concurrent=(250,),
        relay_pps=(20000,),
        scenarios=("setup", "media", "relay", "acd"),
        peers=ALL_PEERS,
    ),
}
# Which peers each scenario runs: the setup scenario compares signalling, the media one relays.
SCENARIO_PEERS = {
    "setup": ("softswitch", "kamailio", "sippy"),
    "media": ("softswitch", "softswitch-recording", "kamailio-rtpengine"),
    "relay": tuple(relay.PEERS),
    "acd": (),  # in-process: no peers
    "acd-calls": (),  # the switch with SIPp callers and SIPp-answered agents: no reference peer
    "security": (),  # the switch's parser alone, under hypothesis
    "api": (),  # the switch alone, driven through its CTI API
    "conference": (),  # the switch alone: no reference peer mixes rooms here
}
MAX_CALLS_PER_STEP = 20000
MAX_DURATION_S = 60.0


def default_out_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return REPO / "bench" / "results" / f"{stamp}-{machine.git_commit(REPO)}"


class MissingPrograms(click.ClickException):
    """What was asked for needs programs this machine lacks: exit 2 with a message, no traceback."""

    exit_code = 2


def peer_programs(scenario: str, name: str) -> tuple[Program, ...]:
    return (relay.PEERS[name] if scenario == "relay" else PEERS[name]).programs


def plan_programs(plan: dict[str, list[str]]) -> set[Program]:
    """Everything the planned scenarios and their peers run."""
    return {
        program
        for scenario, names in plan.items()
        for program in (
            *SCENARIO_PROGRAMS[scenario],
            *(p for name in names for p in peer_programs(scenario, name)),
        )
    }


def check_programs(plan: dict[str, list[str]], explicit: bool) -> dict[str, dict[str, str]]:
    """Per scenario, the peers that cannot run and why; raises when what is missing was asked for
    by name, or is SIPp, which the setup and media scenarios drive whatever the peer."""
    problems: list[str] = []
    unavailable: dict[str, dict[str, str]] = {}
    for scenario, names in plan.items():
        for program in missing(SCENARIO_PROGRAMS[scenario]):
            problems.append(
                f"the {scenario} scenario needs {program.describe()}, which is not installed: "
                "`make setup` installs it"
            )
        for name in names:
            lacking = missing(peer_programs(scenario, name))
            if lacking:
                unavailable.setdefault(scenario, {})[name] = ", ".join(
                    p.describe() for p in lacking
                )
    named = {name: why for peers in unavailable.values() for name, why in peers.items()}
    if explicit and named:
        problems += [f"{name} is not installed: it needs {why}" for name, why in named.items()]
        problems.append(
            "Install what is missing (`make bench` does, as root), or leave those peers out of "
            "--peers."
        )
    if problems:
        raise MissingPrograms("\n".join(dict.fromkeys(problems)))
    return unavailable


def start_peer(name: str, workdir: Path, display: Display) -> Peer | str:
    """The started peer, or why it could not start."""
    peer = PEERS[name](workdir, uas_port=free_port())
    try:
        peer.start()
    except (PeerError, OSError) as exc:
        peer.stop()
        display.note(f"[yellow]{name}: not started: {exc}")
        return str(exc)
    return peer


def run_scenario(
    scenario: str,
    peers: list[str],
    steps: list[float] | list[int],
    step_calls: dict[float, int],
    out_dir: Path,
    display: Display,
    profile: bool,
    profiles: list[str],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in peers:
        workdir = out_dir / scenario / name
        started = start_peer(name, workdir, display)
        if isinstance(started, str):
            results[name] = {"error": started, "steps": []}
            continue
        peer = started
        profiler = None
        if profile and name.startswith("softswitch"):
            profiler = Profiler(peer.pids[0], out_dir, f"{scenario}-{name}")
        done: list[Any] = []
        error = None
        try:
            for step in steps:
                step_dir = workdir / f"step-{step:g}"
                if scenario == "setup":
                    calls = step_calls[step]
                    label = f"{step:g} calls/s"
                    with display.step(scenario, name, label, calls) as progress:
                        done.append(setup_rate.run_step(peer, step_dir, step, calls, progress))
                else:
                    label = f"{int(step)} concurrent"
                    with display.step(scenario, name, label, int(step)) as progress:
                        done.append(media_calls.run_step(peer, step_dir, int(step), progress))
        except (PeerError, RuntimeError) as exc:
            error = str(exc)
            display.note(f"[red]{name}: {exc}")
        finally:
            if profiler is not None:
                profiles.append(str(profiler.stop().relative_to(out_dir)))
            peer.stop()
        entry: dict[str, Any] = {"steps": [s.as_dict() for s in done]}
        if error:
            entry["error"] = error
        if scenario == "setup":
            entry["highest_clean_rate"] = setup_rate.highest_clean_rate(done)
        results[name] = entry
    return {"peers": results}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--suite", type=click.Choice(sorted(SUITES)), default="default", show_default=True)
@click.option(
    "--scenario", "scenarios", multiple=True, type=click.Choice(SCENARIOS),
    help="Scenario to run (repeatable); default: the suite's.",
)  # fmt: skip
@click.option("--rate", "rates", multiple=True, type=float, help="Setup-rate step, calls/s.")
@click.option(
    "--duration",
    type=float,
    help="Seconds of load per setup step (calls = rate × s) or relay step.",
)
@click.option("--calls", type=int, help="Calls per setup step, instead of rate × duration.")
@click.option(
    "--concurrent", "concurrent", multiple=True, type=int, help="Media step: concurrent calls."
)
@click.option(
    "--pps", "pps", multiple=True, type=float, help="Relay step: packets/s, both ways together."
)
@click.option(
    "--streams", type=int, help="Relay: two-way sessions (default: 50 packets/s each way)."
)
@click.option(
    "--rooms", "rooms", multiple=True, type=int, help="Conference step: rooms of 3 participants."
)
@click.option(
    "--fuzz-inputs",
    type=int,
    default=security.DEFAULT_INPUTS,
    show_default=True,
    help="Security scenario: hypothesis inputs for the SIP parser.",
)
@click.option(
    "--subscribers",
    type=int,
    default=api_bench.ApiLoad.subscribers,
    show_default=True,
    help="API scenario: WebSocket event subscribers.",
)
@click.option(
    "--api-calls",
    type=int,
    default=api_bench.ApiLoad.calls,
    show_default=True,
    help="API scenario: concurrent calls up while the API is measured.",
)
@click.option(
    "--api-requests",
    type=int,
    default=api_bench.ApiLoad.requests,
    show_default=True,
    help="API scenario: GET /calls requests (and up to half as many holds and resumes).",
)
@click.option("--peers", help="Comma-separated: " + ",".join(ALL_PEERS) + ".")
@click.option("--out", type=click.Path(path_type=Path), help="Results folder.")
@click.option("--profile/--no-profile", default=True, help="py-spy the switch.", show_default=True)
@click.option(
    "--update-results-md/--no-update-results-md",
    default=True,
    show_default=True,
    help="Rewrite bench/RESULTS.md and bench/plots/ from this run.",
)
@click.option(
    "--results-md",
    type=click.Path(path_type=Path),
    default=RESULTS_MD,
    help="The RESULTS.md that --update-results-md rewrites (plots go in plots/ beside it).",
)
@click.option("--install/--no-install", default=True, help="Install missing tools first.")
def main(
    suite: str,
    scenarios: tuple[str, ...],
    rates: tuple[float, ...],
    duration: float | None,
    calls: int | None,
    concurrent: tuple[int, ...],
    pps: tuple[float, ...],
    streams: int | None,
    rooms: tuple[int, ...],
    fuzz_inputs: int,
    subscribers: int,
    api_calls: int,
    api_requests: int,
    peers: str | None,
    out: Path | None,
    profile: bool,
    update_results_md: bool,
    results_md: Path,
    install: bool,
) -> None:
    """Run the bench and write results.json, plots and RESULTS.md."""
    chosen = SUITES[suite]
    wanted_peers = [p.strip() for p in peers.split(",")] if peers else list(chosen.peers)
    unknown = [p for p in wanted_peers if p not in PEERS and p not in relay.PEERS]
    if unknown:
        raise click.BadParameter(f"unknown peer(s) {', '.join(unknown)}", param_hint="--peers")
    duration_s = min(duration or chosen.duration_s, MAX_DURATION_S)
    step_rates = list(rates or chosen.rates)
    step_calls = {
        r: min(MAX_CALLS_PER_STEP, calls if calls else max(1, round(r * duration_s)))
        for r in step_rates
    }
    display = Display()
    run_scenarios = [s for s in scenarios or chosen.scenarios if s not in NOT_YET]
    plan = {
        s: [p for p in wanted_peers if p in SCENARIO_PEERS[s]] for s in dict.fromkeys(run_scenarios)
    }
    if install:
        machine.ensure_tools(plan_programs(plan), display.note)
    unavailable = check_programs(plan, explicit=peers is not None)
    for scenario, names in unavailable.items():
        for name, why in names.items():
            display.note(f"[yellow]{scenario} {name}: not installed (needs {why}); not measured")
    out_dir = (out or default_out_dir()).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": shlex.join(["softswitch-bench", *sys.argv[1:]]),
        "machine": machine.machine_info(REPO),
        "scenarios": {},
        "notes": NOTES,
        "profiles": [],
    }
    with display:
        for scenario in scenarios or chosen.scenarios:
            if scenario in NOT_YET:
                display.note(f"[yellow]{scenario}: {NOT_YET[scenario]}")
                results["scenarios"][scenario] = {"unavailable": NOT_YET[scenario]}
                continue
            if scenario == "acd":
                results["scenarios"]["acd"] = acd.run_scenario(display)
                continue
            if scenario == "api":
                load = api_bench.ApiLoad(subscribers, api_calls, api_requests)
                results["scenarios"]["api"] = api_bench.run_scenario(
                    load, out_dir, display, profile=profile
                )
                if profile and "profile" in results["scenarios"]["api"]:
                    results["profiles"].append(results["scenarios"]["api"]["profile"])
                continue
            if scenario == "conference":
                results["scenarios"][scenario] = conference.run_scenario(
                    list(rooms or chosen.conference_rooms),
                    min(duration or RELAY_SECONDS, MAX_DURATION_S), out_dir, display,
                    results["profiles"] if profile else None,
                )  # fmt: skip
                continue
            if scenario == "acd-calls":
                results["scenarios"][scenario] = acd_calls.run_scenario(display, out_dir / scenario)
                continue
            lacking = unavailable.get(scenario, {})
            run_peers = [p for p in plan[scenario] if p not in lacking]
            if scenario == "security":
                results["scenarios"][scenario] = security.run_scenario(
                    fuzz_inputs, out_dir, display
                )
                continue
            if scenario == "relay":
                done = relay.run_scenario(
                    run_peers, list(pps or chosen.relay_pps), streams,
                    min(duration or RELAY_SECONDS, MAX_DURATION_S), out_dir, display,
                )  # fmt: skip
            else:
                steps: list[float] | list[int] = (
                    step_rates if scenario == "setup" else list(concurrent or chosen.concurrent)
                )
                done = run_scenario(
                    scenario, run_peers, steps, step_calls, out_dir, display, profile,
                    results["profiles"],
                )  # fmt: skip
            done["peers"] = {
                name: done["peers"].get(name) or {"steps": [], "not_installed": lacking[name]}
                for name in plan[scenario]
            }
            results["scenarios"][scenario] = done
    report.write_json(results, out_dir)
    plots = report.make_plots(results, out_dir)
    if update_results_md:
        report.write_markdown(results, results_md, plots)
    display.console.print(f"results: {out_dir / 'results.json'}")
