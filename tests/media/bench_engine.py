"""Micro-bench of the tick engine: CPU per packet (header parse + jitter push) and per tick per
leg (pop, decode, a processor, encode, send_frame on real loopback sockets).

    .venv/bin/python tests/media/bench_engine.py [--legs 200] [--ticks 300] [--inband]
    .venv/bin/python tests/media/bench_engine.py --rooms 300 [--simple]   # conferences of 3

Legs are pairs crossed by a processor (the transcoding bridge's work: PCMU on one side, PCMA on
the other), or with --rooms, PCMU rooms of three mixed by the conference's Mixer; packets are
handed to each leg's sink directly, so the figure is the engine's own cost without the kernel's
receive path. --simple runs the engine's per-leg oracle path instead of the batched one. The
cost per leg of each tick phase is printed, and `sendto` alone (the same packets, the same
sockets, nothing else) to split the send phase into building the packets and the syscall.
Lives beside the tests (bench/ may not import the switch).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import time

import numpy as np
import uvloop

from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.engine import MediaEngine, TickFrames
from softswitch.media.engine_leg import DtmfDetection, EngineLeg, LegCodec
from softswitch.media.mixer import Mixer
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay
from softswitch.media.room_mix import RoomMixPass

HEADER = struct.Struct("!BBHII")


class Cross:
    def __init__(self, pairs: list[tuple[EngineLeg, EngineLeg]]) -> None:
        self.pairs = pairs

    def process(self, frames: TickFrames) -> None:
        a = np.array([p[0].row for p in self.pairs])
        b = np.array([p[1].row for p in self.pairs])
        frames.say[a] = frames.heard[b]
        frames.say[b] = frames.heard[a]
        frames.send[a] = True
        frames.send[b] = True


class Rooms:
    """Rooms of three in one Mixer pass, as calls/conference.py runs them."""

    def __init__(self, legs: list[EngineLeg]) -> None:
        self.legs = legs
        self.mixer = Mixer(max_participants=len(legs))
        self.rows = [self.mixer.join(i // 3) for i in range(len(legs))]
        self.mix = RoomMixPass(self.mixer)

    def process(self, frames: TickFrames) -> None:
        engine_rows = [leg.row for leg in self.legs]
        self.mix.run(frames.heard, frames.say, frames.send, engine_rows, self.rows)


def sendto_cost(endpoints: list[MediaEndpoint], ticks: int) -> float:
    """Seconds of CPU per packet of `transport.sendto` alone, 172-byte packets."""
    sends = []
    for endpoint in endpoints:
        sock = endpoint.frame_socket
        assert sock.transport is not None and sock.remote is not None
        sends.append((sock.transport.sendto, sock.remote))
    packet = bytes(172)
    start = time.process_time()
    for _ in range(ticks):
        for sendto, remote in sends:
            sendto(packet, remote)
    return (time.process_time() - start) / (ticks * len(sends))


async def main(legs: int, ticks: int, inband: bool, rooms: int = 0, simple: bool = False) -> None:
    relay = MediaRelay("127.0.0.1", PortAllocator(42000, 44999), lambda host: True)
    sink = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    port = sink[0].get_extra_info("sockname")[1]
    if rooms:
        legs = 3 * rooms
    engine = MediaEngine(batched=not simple)
    detection = DtmfDetection.INBAND if inband else DtmfDetection.RFC4733
    endpoints: list[MediaEndpoint] = []
    taken: list[EngineLeg] = []
    for i in range(legs):
        endpoint = await relay.open_endpoint()
        endpoint.set_remote("127.0.0.1", port)
        endpoints.append(endpoint)
        pcma = i % 2 and not rooms
        codec = LegCodec("PCMA", 8, 101) if pcma else LegCodec("PCMU", 0, 101)
        taken.append(engine.take(endpoint, codec, detection=detection))
    if rooms:
        engine.add_processor(Rooms(taken))
    else:
        engine.add_processor(Cross([(taken[i], taken[i + 1]) for i in range(0, legs - 1, 2)]))
    payload = bytes(np.random.default_rng(1).integers(0, 256, 160, dtype=np.uint8))
    per_packet: list[float] = []
    per_tick: list[float] = []
    for t in range(ticks):
        packets = [
            HEADER.pack(0x80, leg.codec.payload_type, t & 0xFFFF, 160 * t, 1000 + i) + payload
            for i, leg in enumerate(taken)
        ]
        start = time.process_time()
        for leg, data, endpoint in zip(taken, packets, endpoints, strict=True):
            leg.rtp_received(data, endpoint)
        per_packet.append((time.process_time() - start) / legs)
        start = time.process_time()
        engine.tick(time.monotonic())
        per_tick.append(time.process_time() - start)
        if t == 9:
            engine.stats.phases = type(engine.stats.phases)()  # the first ticks warm up
    tick_min, tick_median = min(per_tick[10:]), statistics.median(per_tick[10:])
    print(
        f"{legs} legs{' with in-band DTMF' if inband else ''}: per packet "
        f"{1e6 * statistics.median(per_packet):.2f} µs (median); per tick "
        f"{1e3 * tick_min:.2f} ms min / {1e3 * tick_median:.2f} ms median = "
        f"{1e6 * tick_min / legs:.1f} / {1e6 * tick_median / legs:.1f} µs per leg"
    )
    phases = engine.stats.phases
    leg_ticks = legs * (ticks - 10)
    names = ("pop_s", "decode_s", "process_s", "encode_s", "send_s", "rest_s")
    costs = {name: 1e6 * getattr(phases, name) / leg_ticks for name in names}
    syscall = 1e6 * sendto_cost(endpoints, 20)
    print(
        f"  {'simple' if simple else 'batched'} phases, µs of CPU per leg per tick: "
        + ", ".join(f"{name[:-2]} {cost:.2f}" for name, cost in costs.items())
        + f"; of send, sendto alone {syscall:.2f} (packet build {costs['send_s'] - syscall:.2f})"
    )
    await relay.aclose()
    sink[0].close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--legs", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--inband", action="store_true")
    parser.add_argument("--rooms", type=int, default=0, help="conference rooms of 3 instead")
    parser.add_argument("--simple", action="store_true", help="the engine's per-leg path")
    args = parser.parse_args()
    uvloop.run(main(args.legs, args.ticks, args.inband, args.rooms, args.simple))
