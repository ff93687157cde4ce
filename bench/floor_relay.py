"""The floor the relay scenario measures against: a bare asyncio UDP relay, nothing per packet
but one receive and one send (ARCHITECTURE.md: 3.6-4.2 µs per packet on uvloop, 15 on asyncio).

Reads {"a": [ports], "b": [ports]} (the two blasters' sockets, stream by stream) as one JSON line,
binds two sockets per stream on 127.0.0.1 and prints {"a": [...], "b": [...]}: where each side
sends. What arrives from A goes out of the B-facing socket to B, and the reverse, until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import signal
import sys
from typing import cast

import uvloop

HOST = "127.0.0.1"


class Forward(asyncio.DatagramProtocol):
    def __init__(self, dest: tuple[str, int]) -> None:
        self.dest = dest
        self.transport: asyncio.DatagramTransport | None = None
        self.out: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.out is not None
        self.out.sendto(data, self.dest)


def _same(proto: Forward) -> Forward:
    return proto


async def serve() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    remotes = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    facing: dict[str, list[Forward]] = {"a": [], "b": []}
    for a_port, b_port in zip(remotes["a"], remotes["b"], strict=True):
        for side, dest in (("a", (HOST, b_port)), ("b", (HOST, a_port))):
            proto = Forward(dest)
            await loop.create_datagram_endpoint(functools.partial(_same, proto), (HOST, 0))
            facing[side].append(proto)
    for from_a, from_b in zip(facing["a"], facing["b"], strict=True):
        from_a.out, from_b.out = from_b.transport, from_a.transport
    ports = {
        side: [p.transport.get_extra_info("sockname")[1] for p in protos if p.transport]
        for side, protos in facing.items()
    }
    print(json.dumps(ports), flush=True)
    await done.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        uvloop.run(serve())
    else:
        asyncio.run(serve())


if __name__ == "__main__":
    main()
