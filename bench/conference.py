"""Scenario "conference": N rooms of three, each participant sending G.711 and hearing the mix.

Every participant is a real call from the bench's UAC (bench.sip_calls) through the loadgen
trunk to a room (8000 + i for room i, rooms 8000-8999 in the bench config); its RTP is one
stream of a `bench.rtp_blaster --mixed` process, 50 packets/s of PCMU. What each stream gets
back is the switch's mix for that participant, counted from the start of the blast.

Loss, in % of the packets of the step, is what the switch dropped at its sockets on the way in
(/proc/net/udp `drops` of its media ports) plus the mix packets it owed and that never came back:
each participant is owed one per 20 ms tick from its first mix packet of the blast to the end of
the blast (less 200 ms for buffering), and a tick counts as received when a packet with its RTP
timestamp arrives, whenever the blaster reads it (it reads until every stream is past its last
tick due, 10 s at most). A packet lost on the way counts; a tick the switch's clock skipped
outright does not (its timestamps advance per packet sent, and it goes on mixing after the
blast), except where that left a stream behind at the cap. The gaps in sequence numbers
(RFC 3550 §A.3) are reported beside it. A mix whose SSRC changes is placed at the tick its new
source arrived in; RTCP reports that reach a stream's RTP socket (the switch sends them to its
RTP port + 1, which may be another stream's) are counted apart, not as a mix. Packets the
switch read but played out too late are concealed by its jitter buffer and not counted here.
Jitter p99 is the RFC 3550 jitter of each mix against its own RTP clock. CPU is the switch's
over the blast; `rooms_per_core` is rooms divided by the share of one core that CPU is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import procstat, sip_calls
from bench.display import Display, StepReporter
from bench.peers.base import PeerError, free_port
from bench.peers.softswitch import CONFERENCE_NUMBERS, ConferenceSoftswitch
from bench.profiling import Profiler
from bench.relay import BLASTER_READY_S, HANGUP_DEADLINE_S, _read_line, start_blaster

PARTICIPANTS = 3
PACKETS_PER_STREAM_S = 50  # 20 ms PCMU
SETUP_DEADLINE_S = 90.0
MAX_LOSS_PCT = 0.1  # issue 8: the capacity is the rooms mixed at under 0.1 % loss
PROC_NET_UDP = Path("/proc/net/udp")


@dataclass(frozen=True)
class ConferenceStep:
    rooms: int
    legs: int
    seconds: float
    sent: int
    received: int
    dropped_in: int  # at the switch's media sockets (/proc/net/udp drops)
    lost_out: int  # gaps in the mixes' sequence numbers
    dropped_at_generator: int  # of those, what the blaster's own sockets dropped
    silent_legs: int  # participants that got no mix at all
    due: int  # the mix packets the switch owed by the end of the blast (its 50/s per leg)
    missing: int  # of those, never arrived: lost on the way, or a tick not run in time
    ssrc_changes: int  # a mix that changed source mid-blast (each part counted on its own)
    seq_jumps: int  # forward steps of more than one sequence number: where the losses were
    own_ssrc_packets: int  # packets back with one of the blaster's own SSRCs (not a mix)
    rtcp_packets: int  # RTCP reports that reached a stream's RTP socket, not counted as mix
    loss_pct: float
    jitter_p99_ms: float | None
    cpu_s: float
    cpu_ms_per_room_s: float  # CPU ms per second of one room
    rooms_per_core: float | None
    generator_cpu_us_per_packet: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def udp_drops(ports: set[int], table: Path = PROC_NET_UDP) -> int:
    """Datagrams the kernel dropped on the 127.0.0.1/0.0.0.0 sockets bound to `ports`."""
    total = 0
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 13:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        if port in ports:
            total += int(fields[-1])
    return total


def run_step(
    switch: ConferenceSoftswitch,
    rooms: int,
    seconds: float,
    report: StepReporter,
    profile_dir: Path | None = None,
) -> ConferenceStep:
    """One step; with `profile_dir`, py-spy samples the switch over the blast (bench/profiling)."""
    legs = rooms * PARTICIPANTS
    first, last = CONFERENCE_NUMBERS
    if rooms > last - first + 1:
        raise RuntimeError(f"{rooms} rooms: the bench config has {last - first + 1}")
    pps = legs * PACKETS_PER_STREAM_S
    blaster = start_blaster(legs, pps, seconds, mixed=True)
    calls: sip_calls.CallPair | None = None
    try:
        assert blaster.stdout is not None and blaster.stdin is not None
        ports = json.loads(_read_line(blaster.stdout, blaster, BLASTER_READY_S))["ports"]
        numbers = [str(first + i // PARTICIPANTS) for i in range(legs)]
        calls = sip_calls.CallPair(switch.sip_port, switch.uas_port, ports, [], numbers)
        calls.setup(SETUP_DEADLINE_S)
        report(legs, 0)
        dests = calls.a_dests
        drops_before = udp_drops(set(dests))
        generator_drops_before = udp_drops(set(ports))
        profiler = None
        if profile_dir is not None:
            profiler = Profiler(switch.pids[0], profile_dir, f"conference-{rooms}-rooms")
        cpu_before = procstat.cpu_seconds(switch.pids)
        wall_before = time.monotonic()
        blaster.stdin.write(json.dumps({"dests": dests}) + "\n")
        blaster.stdin.flush()
        stats = json.loads(_read_line(blaster.stdout, blaster, seconds * 3 + 10))
        if profiler is not None:
            profiler.stop()
        cpu_s = procstat.cpu_seconds(switch.pids) - cpu_before
        wall_s = time.monotonic() - wall_before
        dropped_in = udp_drops(set(dests)) - drops_before
        dropped_at_generator = udp_drops(set(ports)) - generator_drops_before
    finally:
        if blaster.poll() is None:
            blaster.kill()
        blaster.wait()
        if calls is not None:
            calls.hangup(HANGUP_DEADLINE_S)
            calls.close()
    switch.check_alive()
    sent, received = int(stats["sent"]), int(stats["received"])
    lost_out = int(stats["lost"])
    due, missing = int(stats["due"]), int(stats["missing"])
    # Into the switch: what its sockets dropped; out of it: the mix packets owed and missing.
    loss = 100 * (dropped_in + missing) / (sent + due) if sent and due else 100.0
    jitters = sorted(float(j) for j in stats["jitter_ms"])
    core_share = cpu_s / wall_s if wall_s else 0.0
    return ConferenceStep(
        rooms=rooms,
        legs=legs,
        seconds=seconds,
        sent=sent,
        received=received,
        dropped_in=dropped_in,
        lost_out=lost_out,
        dropped_at_generator=dropped_at_generator,
        silent_legs=int(stats["silent_streams"]),
        due=int(stats["due"]),
        missing=int(stats["missing"]),
        ssrc_changes=int(stats["ssrc_changes"]),
        seq_jumps=int(stats["seq_jumps"]),
        own_ssrc_packets=int(stats["own_ssrc_packets"]),
        rtcp_packets=int(stats.get("rtcp_packets", 0)),
        loss_pct=round(loss, 3),
        jitter_p99_ms=round(jitters[min(len(jitters) - 1, int(0.99 * len(jitters)))], 3)
        if jitters
        else None,
        cpu_s=round(cpu_s, 3),
        cpu_ms_per_room_s=round(1000 * core_share / rooms, 3),
        rooms_per_core=round(rooms / core_share, 1) if core_share else None,
        generator_cpu_us_per_packet=round(float(stats["cpu_s"]) * 1e6 / sent, 2) if sent else 0.0,
    )


def max_clean_rooms(steps: list[ConferenceStep]) -> int | None:
    """The most rooms of a step under 0.1 % loss in which every participant heard a mix."""
    clean = [s.rooms for s in steps if s.loss_pct < MAX_LOSS_PCT and s.silent_legs == 0]
    return max(clean) if clean else None


def run_scenario(
    room_steps: list[int],
    seconds: float,
    out_dir: Path,
    display: Display,
    profiles: list[str] | None = None,
) -> dict[str, Any]:
    """Every step on one switch; a failure keeps the finished steps and the error. With
    `profiles` (a list the summaries' paths are added to), each step's blast is profiled."""
    switch = ConferenceSoftswitch(out_dir / "conference" / "softswitch", uas_port=free_port())
    done: list[ConferenceStep] = []
    error = None
    try:
        switch.start()
        for rooms in room_steps:
            label = f"{rooms} rooms of {PARTICIPANTS}"
            with display.step("conference", switch.name, label, rooms * PARTICIPANTS) as progress:
                done.append(
                    run_step(
                        switch, rooms, seconds, progress, out_dir if profiles is not None else None
                    )
                )
                if profiles is not None:
                    profiles.append(f"profile-conference-{rooms}-rooms.txt")
    except (PeerError, RuntimeError, OSError, sip_calls.SipCallError) as exc:
        error = str(exc)
        display.note(f"[red]conference: {exc}")
    finally:
        switch.stop()
    entry: dict[str, Any] = {
        "steps": [s.as_dict() for s in done],
        "max_rooms_under_0_1_pct_loss": max_clean_rooms(done),
    }
    if error:
        entry["error"] = error
    return {"peers": {switch.name: entry}}
