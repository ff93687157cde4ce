"""One side of the relay scenario's load: N RTP streams at a fixed total packet rate, counted back.

The blaster binds one socket per stream on 127.0.0.1 and prints their ports as a JSON line
({"ports": [...]}). It then reads one JSON line ({"dests": [...]}: where stream i sends, a port
on 127.0.0.1) and starts at once: 172-byte RTP packets (12-byte header, 160 bytes of PCMU whose
first 8 carry the send time), round robin over the streams, paced to `pps` in 1 ms bursts, for
`seconds` or `pps * seconds` packets. Whatever comes back on stream i's socket is the other side's
traffic through the relay; each stream keeps the RFC 3550 §6.4.1 jitter of the transit times.
With `--mixed`, what comes back is the peer's own stream (a conference mix): the transit is taken
against its RTP timestamp (RFC 3550 §A.8), and its loss from its sequence numbers (§A.3), over what
arrives from the start of the blast on.
After a drain it prints its counters as one JSON line and exits. Symmetric RTP (RFC 4961): a
stream sends from the socket it receives on, so relays that latch see the same address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import sys
import time
from typing import cast

import uvloop

PCMU = 0  # RFC 3551 §6
SAMPLES_PER_PACKET = 160  # 20 ms at 8000 Hz
PAYLOAD_BYTES = 160
PACKET_BYTES = 12 + PAYLOAD_BYTES
TICK_S = 0.001
DRAIN_S = 0.5
# --mixed: after the blast, read until every stream has a packet past its last tick due (at most
# this long), so that a mix waiting in our own socket buffers is not counted lost.
MAX_DRAIN_S = 10.0
CATCH_UP_POLL_S = 0.05
# --mixed: the peer's packets due by the end of the blast are those of its ticks up to this
# long before the end (its jitter buffer's depth, the loopback and our reading).
DUE_MARGIN_S = 0.2
TICK_UNITS = 160  # the peer's 20 ms at 8 kHz
SSRC_BASE = 0x5EB00000
HOST = "127.0.0.1"  # the only destination this load generator sends to

_HEADER_SENT = struct.Struct("!BBHIId")  # RTP header, then the send time (first payload bytes)
_SENT_AT = struct.Struct("!d")
_FILL = b"\xff" * (PAYLOAD_BYTES - _SENT_AT.size)  # PCMU silence
_SEQ_TS = struct.Struct("!HII")
RTP_CLOCK_HZ = 8000


class Stream(asyncio.DatagramProtocol):
    """One stream's socket: what it receives is counted and its transit jitter kept."""

    def __init__(self, mixed: bool = False) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.mixed = mixed
        self.received = 0
        self.last_transit = -1.0
        self.jitter_s = 0.0
        self.counting = not mixed  # a mix is counted from the blast on (`start_counting`)
        self.base_seq = -1  # extended sequence numbers (RFC 3550 §A.1), from the first counted
        self.max_seq = -1
        self.counted = 0
        self.ssrc = -1
        self.ssrc_changes = 0
        self.earlier_lost = 0  # of the SSRCs before this one
        self.seq_jumps = 0  # steps forward of more than one packet
        self.first_at = -1.0  # when the first counted packet of the mix arrived
        self.base_ts = self.base_offset = self.newest = 0
        self.own_ssrc = 0  # packets that carried one of our own SSRCs: our audio came back
        self.rtcp = 0  # RTCP that reached this RTP socket (see _count_mixed)
        self.offsets: list[int] = []  # RTP timestamps counted, from base_ts, in samples
        self.last_at = 0.0

    def start_counting(self) -> None:
        self.counting = True
        self.received = self.counted = self.ssrc_changes = self.earlier_lost = 0
        self.seq_jumps = 0
        self.base_seq = self.max_seq = self.ssrc = -1
        self.first_at = -1.0
        self.offsets = []
        self.newest = self.own_ssrc = self.rtcp = 0
        self.last_transit, self.jitter_s = -1.0, 0.0

    def due_ticks(self, end: float) -> int:
        return max(0, int((end - DUE_MARGIN_S - self.first_at) / 0.02)) if self.first_at >= 0 else 0

    def caught_up(self, end: float) -> bool:
        return self.first_at < 0 or self.newest >= self.due_ticks(end) * TICK_UNITS

    def missing_by(self, end: float) -> tuple[int, int]:
        """(due, missing): the peer's ticks from its first counted packet to `end` less the
        margin, and how many of them never arrived (lost, or not sent: a skipped or starved
        tick)."""
        if self.first_at < 0:
            return 0, 0
        due = self.due_ticks(end)
        got = len({o // TICK_UNITS for o in self.offsets if o < due * TICK_UNITS})
        return due, due - got

    @property
    def lost(self) -> int:
        """RFC 3550 §A.3: expected (highest minus first sequence number, plus one) - received."""
        here = max(0, self.max_seq - self.base_seq + 1 - self.counted) if self.counted else 0
        return self.earlier_lost + here

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not a subclass of asyncio.DatagramTransport, only alike.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.counting:
            return
        self.received += 1
        if self.mixed:
            self._count_mixed(data)
            return
        if len(data) < 12 + _SENT_AT.size:
            return
        transit = time.monotonic() - _SENT_AT.unpack_from(data, 12)[0]
        if self.last_transit >= 0:
            self.jitter_s += (abs(transit - self.last_transit) - self.jitter_s) / 16
        self.last_transit = transit

    def _count_mixed(self, data: bytes) -> None:
        if len(data) < 12:
            return
        if 192 <= data[1] <= 223:
            # RTCP (RFC 5761 §4): the switch sends its reports to our RTP port + 1 (RFC 3550
            # §11), which can be another stream's RTP socket. Read as RTP it looked like a mix
            # whose SSRC changed (the SR's NTP seconds) and misplaced that stream's ticks.
            self.rtcp += 1
            return
        seq, ts, ssrc = _SEQ_TS.unpack_from(data, 2)
        now = self.last_at = time.monotonic()
        if self.first_at < 0:
            self.first_at, self.base_ts, self.base_offset = now, ts, 0
        elif ssrc != self.ssrc:
            # A new source's timestamps start anywhere: place it at the tick it arrived in.
            ticks = round((now - self.first_at) / 0.02)
            self.base_ts, self.base_offset = ts, ticks * TICK_UNITS
        offset = self.base_offset + ((ts - self.base_ts) & 0xFFFFFFFF)
        self.offsets.append(offset)
        self.newest = max(self.newest, offset)
        self.own_ssrc += ssrc & 0xFFF00000 == SSRC_BASE
        if ssrc != self.ssrc:
            if self.ssrc >= 0:  # a new source (RFC 3550 §8.2): its numbers start afresh
                self.ssrc_changes += 1
                self.earlier_lost = self.lost
                self.counted = 0
                self.max_seq = -1
            self.ssrc = ssrc
        if self.max_seq < 0:
            self.base_seq = self.max_seq = seq
        else:
            # The extended number nearest the highest so far (RFC 3550 §A.1, without probation).
            ext = self.max_seq + ((seq - self.max_seq + 0x8000) & 0xFFFF) - 0x8000
            self.seq_jumps += ext > self.max_seq + 1
            self.max_seq = max(self.max_seq, ext)
        self.counted += 1
        # Transit against the RTP clock; its wrap (every 6 days at 8 kHz) is not reached here.
        transit = time.monotonic() - ts / RTP_CLOCK_HZ
        if self.counted > 1:
            self.jitter_s += (abs(transit - self.last_transit) - self.jitter_s) / 16
        self.last_transit = transit


async def blast(streams: int, pps: float, seconds: float, mixed: bool = False) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    protocols: list[Stream] = []
    for _ in range(streams):
        _, proto = await loop.create_datagram_endpoint(lambda: Stream(mixed), local_addr=(HOST, 0))
        protocols.append(proto)
    transports = [p.transport for p in protocols]
    assert all(t is not None for t in transports)
    ports = [t.get_extra_info("sockname")[1] for t in transports if t is not None]
    print(json.dumps({"ports": ports}), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    dests = [(HOST, int(p)) for p in json.loads(line)["dests"]]
    if len(dests) != streams:
        raise SystemExit(f"rtp_blaster: {len(dests)} destinations for {streams} streams")
    sends = [t.sendto for t in transports if t is not None]
    total = int(pps * seconds)
    for proto in protocols:
        if not proto.counting:
            proto.start_counting()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    give_up = started + seconds * 2 + 1  # a starved generator stops instead of running late
    sent = 0
    monotonic = time.monotonic
    pack = _HEADER_SENT.pack
    while sent < total:
        now = monotonic()
        if now > give_up:
            break
        due = min(total, int((now - started) * pps) + 1)
        while sent < due:
            i = sent % streams
            seq = sent // streams
            header = pack(
                0x80, PCMU, seq & 0xFFFF, (seq * SAMPLES_PER_PACKET) & 0xFFFFFFFF,
                SSRC_BASE + i, monotonic(),
            )  # fmt: skip
            sends[i](header + _FILL, dests[i])
            sent += 1
        await asyncio.sleep(TICK_S)
    ended = time.monotonic()
    send_s = ended - started
    await asyncio.sleep(DRAIN_S)
    if mixed:  # a mix never stops: read until every stream is past its last tick due
        while time.monotonic() - ended < MAX_DRAIN_S:
            if all(p.caught_up(ended) for p in protocols):
                break
            await asyncio.sleep(CATCH_UP_POLL_S)
    owed = [p.missing_by(ended) for p in protocols]
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for t in transports:
        if t is not None:
            t.close()
    return {
        "sent": sent,
        "received": sum(p.received for p in protocols),
        "lost": sum(p.lost for p in protocols),
        "silent_streams": sum(p.received == 0 for p in protocols),
        "ssrc_changes": sum(p.ssrc_changes for p in protocols),
        "seq_jumps": sum(p.seq_jumps for p in protocols),
        "own_ssrc_packets": sum(p.own_ssrc for p in protocols),
        "rtcp_packets": sum(p.rtcp for p in protocols),
        "due": sum(d for d, _ in owed),
        "missing": sum(m for _, m in owed),
        "send_s": round(send_s, 4),
        "jitter_ms": sorted(round(p.jitter_s * 1000, 4) for p in protocols if p.received > 1),
        "cpu_s": round(
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--pps", type=float, required=True, help="packets/s over all streams")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument(
        "--mixed", action="store_true", help="what comes back is the peer's own stream (a mix)"
    )
    args = parser.parse_args()
    result = uvloop.run(blast(args.streams, args.pps, args.seconds, args.mixed))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
