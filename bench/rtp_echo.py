"""The media scenario's far end: echoes every RTP packet back and counts what arrived.

SIPp's uas answers with this process's port, so RTP crosses the peer both ways. The packet count
gives loss against what SIPp played; per stream (relay source address and SSRC) it keeps the
RFC 3550 interarrival jitter the stream picked up on its way through the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import uvloop

CLOCK_RATE_HZ = 8000  # G.711, RFC 3551 §4.5.14
DYNAMIC_PAYLOAD_TYPES = 96  # RFC 3551 §3: 96-127 are dynamic


@dataclass
class Stream:
    last_arrival: float = 0.0
    last_timestamp: int = 0
    jitter: float = 0.0  # RTP timestamp units, RFC 3550 §6.4.1


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0
        self.audio_bytes = 0  # RTP payload of static (audio) payload types
        self.streams: dict[tuple[tuple[str, int], int], Stream] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not a subclass of asyncio.DatagramTransport, only alike.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)
        self.packets += 1
        # Jitter only for static audio payload types (RFC 3551): telephone-event packets repeat
        # one timestamp for a whole digit, which would read as jitter.
        if len(data) < 12 or data[1] & 0x7F >= DYNAMIC_PAYLOAD_TYPES:
            return
        self.audio_bytes += len(data) - 12
        now = time.monotonic()
        timestamp, ssrc = struct.unpack_from("!II", data, 4)
        key = (addr, ssrc)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream()
        else:
            transit = (now - stream.last_arrival) * CLOCK_RATE_HZ - (
                timestamp - stream.last_timestamp
            )
            stream.jitter += (abs(transit) - stream.jitter) / 16
        stream.last_arrival = now
        stream.last_timestamp = timestamp

    def summary(self) -> dict[str, object]:
        return {
            "packets": self.packets,
            "audio_bytes": self.audio_bytes,
            "streams": len(self.streams),
            "jitter_ms": sorted(s.jitter * 1000 / CLOCK_RATE_HZ for s in self.streams.values()),
        }


async def serve(port: int, stats: Path) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    transport, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port))
    print("ready", flush=True)
    await done.wait()
    transport.close()
    stats.write_text(json.dumps(echo.summary()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.stats))


if __name__ == "__main__":
    main()
