"""Micro-bench of the tick engine: CPU per packet (header parse + jitter push) and per tick per
leg (pop, decode, a processor, encode, send_frame on real loopback sockets).

    .venv/bin/python tests/media/bench_engine.py [--legs 200] [--ticks 300] [--inband]

Legs are pairs crossed by a processor (the transcoding bridge's work: PCMU on one side, PCMA on
the other); packets are handed to each leg's sink directly, so the figure is the engine's own
cost without the kernel's receive path. Lives beside the tests (bench/ may not import the switch).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import time

import numpy as np

from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.engine import MediaEngine, TickFrames
from softswitch.media.engine_leg import DtmfDetection, EngineLeg, LegCodec
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay

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


async def main(legs: int, ticks: int, inband: bool) -> None:
    relay = MediaRelay("127.0.0.1", PortAllocator(42000, 44999), lambda host: True)
    sink = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    port = sink[0].get_extra_info("sockname")[1]
    engine = MediaEngine()
    detection = DtmfDetection.INBAND if inband else DtmfDetection.RFC4733
    endpoints: list[MediaEndpoint] = []
    taken: list[EngineLeg] = []
    for i in range(legs):
        endpoint = await relay.open_endpoint()
        endpoint.set_remote("127.0.0.1", port)
        endpoints.append(endpoint)
        codec = LegCodec("PCMU", 0, 101) if i % 2 == 0 else LegCodec("PCMA", 8, 101)
        taken.append(engine.take(endpoint, codec, detection=detection))
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
    tick_min, tick_median = min(per_tick[10:]), statistics.median(per_tick[10:])
    print(
        f"{legs} legs{' with in-band DTMF' if inband else ''}: per packet "
        f"{1e6 * statistics.median(per_packet):.2f} µs (median); per tick "
        f"{1e3 * tick_min:.2f} ms min / {1e3 * tick_median:.2f} ms median = "
        f"{1e6 * tick_min / legs:.1f} / {1e6 * tick_median / legs:.1f} µs per leg"
    )
    await relay.aclose()
    sink[0].close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--legs", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--inband", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.legs, args.ticks, args.inband))
