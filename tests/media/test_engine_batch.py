"""The batched tick against its oracle: the same packets into two engines, one batched (slab
pops, numpy-built headers) and one simple (`batched=False`: a `pop` and a `send_frame` per leg),
must send every packet byte for byte the same.

Each engine has its own relay and loopback phones; the SSRC and first sequence number and
timestamp an endpoint draws are made deterministic, so the two worlds' streams are comparable
byte for byte. The script mixes what the fast path must hand over to the per-leg one and back:
loss, reordering, a new source, PCMA, G.722 and a 30 ms leg, an RFC 4733 digit, a direction
that stops sending, a remote that goes away, a leg released and taken again.
"""

from __future__ import annotations

import random
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from phones import HOST, Phone, Runner, open_phone, wait_until

import softswitch.media.endpoint as endpoint_module
from softswitch.media.endpoint import Direction, MediaEndpoint
from softswitch.media.engine import MediaEngine, TickFrames
from softswitch.media.engine_leg import LegCodec
from softswitch.media.mixer import Mixer
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay
from softswitch.media.room_mix import RoomMixPass
from softswitch.media.rtp import RtpHeader

CODECS = [LegCodec("PCMU", 0, 101, 20)] * 6 + [
    LegCodec("PCMA", 8, 101),
    LegCodec("PCMU", 0, 101, 30),
    LegCodec("G722", 9, 101, 20),
]
TICKS = 80
Action = tuple[str, int, object]


def script(seed: int) -> list[list[Action]]:
    """What happens at each tick, the same for both engines."""
    rng = random.Random(seed)
    legs = len(CODECS)
    seq = [rng.randrange(65536) for _ in range(legs)]
    ts = [rng.randrange(1 << 32) for _ in range(legs)]
    ssrc = [rng.randrange(1 << 32) for _ in range(legs)]
    held: list[bytes | None] = [None] * legs
    ticks: list[list[Action]] = []
    for tick in range(TICKS):
        actions: list[Action] = []
        for leg, codec in enumerate(CODECS):
            if tick == 40 and leg == 4:
                ssrc[leg], seq[leg] = rng.randrange(1 << 32), rng.randrange(65536)
            header = RtpHeader(
                payload_type=codec.payload_type,
                sequence=seq[leg],
                timestamp=ts[leg],
                ssrc=ssrc[leg],
                marker=tick == 0,
            )
            packet = header.serialize() + rng.randbytes(160)
            seq[leg], ts[leg] = (seq[leg] + 1) & 0xFFFF, (ts[leg] + 160) & 0xFFFFFFFF
            roll = rng.random()
            if roll < 0.08:
                continue  # lost
            if roll < 0.14 and held[leg] is None:
                held[leg] = packet  # comes a tick late
                continue
            actions.append(("rtp", leg, packet))
            if held[leg] is not None:
                actions.append(("rtp", leg, held[leg]))
                held[leg] = None
        actions += {
            12: [("digit", 1, "5")],
            30: [("direction", 2, Direction.RECVONLY)],
            36: [("direction", 2, Direction.SENDRECV)],
            44: [("remote", 3, None)],
            50: [("remote", 3, "back")],
            55: [("retake", 0, None)],
            60: [("digit", 7, "9")],
        }.get(tick, [])
        ticks.append(actions)
    return ticks


class Rooms:
    """Rooms of three over the engine legs of `endpoints`, mixed as the conference does."""

    def __init__(self, engine: MediaEngine, endpoints: list[MediaEndpoint]) -> None:
        self.engine, self.endpoints = engine, endpoints
        self.mixer = Mixer(max_participants=len(endpoints))
        self.rows = [self.mixer.join(i // 3) for i in range(len(endpoints))]
        self.mix = RoomMixPass(self.mixer)

    def process(self, frames: TickFrames) -> None:
        pairs = [
            (self.engine.leg_of(e), row) for e, row in zip(self.endpoints, self.rows, strict=True)
        ]
        live = [(leg.row, row) for leg, row in pairs if leg is not None and leg.row >= 0]
        self.mix.run(
            frames.heard, frames.say, frames.send, [e for e, _ in live], [m for _, m in live]
        )


@dataclass
class World:
    engine: MediaEngine
    relay: MediaRelay
    endpoints: list[MediaEndpoint] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)


def deterministic_randbits(seed: int) -> Callable[[int], int]:
    return random.Random(seed).getrandbits


async def world(batched: bool, ports: int, monkeypatch: pytest.MonkeyPatch) -> World:
    fake = types.SimpleNamespace(randbits=deterministic_randbits(7))
    monkeypatch.setattr(endpoint_module, "secrets", fake)
    now = [100.0]
    engine = MediaEngine(
        clock=lambda: now[0], wall_clock=lambda: 1.7e9, rtcp_interval_s=1e6, batched=batched
    )
    made = World(engine, MediaRelay(HOST, PortAllocator(ports, ports + 99), lambda host: True))
    for codec in CODECS:
        endpoint = await made.relay.open_endpoint()
        phone = await open_phone()
        endpoint.set_remote(*phone.address)
        engine.take(endpoint, codec)
        made.endpoints.append(endpoint)
        made.phones.append(phone)
    engine.add_processor(Rooms(engine, made.endpoints))
    return made


def play(made: World, actions: list[list[Action]]) -> None:
    engine = made.engine
    for tick, todo in enumerate(actions):
        for kind, index, value in todo:
            endpoint = made.endpoints[index]
            leg = engine.leg_of(endpoint)
            assert leg is not None
            if kind == "rtp":
                assert isinstance(value, bytes)
                leg.rtp_received(value, endpoint)
            elif kind == "digit":
                assert isinstance(value, str)
                leg.send_digit(value)
            elif kind == "direction":
                assert isinstance(value, Direction)
                endpoint.set_direction(value)
            elif kind == "remote":
                phone = made.phones[index]
                endpoint.set_remote("0.0.0.0" if value is None else HOST, phone.address[1])
            elif kind == "retake":
                engine.release(leg)
                engine.take(endpoint, CODECS[index])
        engine.tick(100.0 + 0.02 * tick, tick)


async def received(made: World) -> list[list[bytes]]:
    for endpoint, phone in zip(made.endpoints, made.phones, strict=True):
        sent = endpoint.stats().frames_sent
        await wait_until(lambda p=phone, n=sent: p.inbox.qsize() >= n)
    streams = []
    for phone in made.phones:
        packets = []
        while not phone.inbox.empty():
            packets.append(phone.inbox.get_nowait()[0])
        streams.append(packets)
        phone.transport.close()
    await made.relay.aclose()
    return streams


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_batched_tick_sends_what_the_per_leg_tick_sends_byte_for_byte(
    run: Runner, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = script(seed)

    async def main() -> None:
        simple = await world(False, 45000, monkeypatch)
        play(simple, actions)
        expected = await received(simple)
        batched = await world(True, 45200, monkeypatch)
        play(batched, actions)
        got = await received(batched)
        for leg, (want, have) in enumerate(zip(expected, got, strict=True)):
            assert len(have) == len(want), f"leg {leg}: {len(have)} packets, oracle {len(want)}"
            for number, (a, b) in enumerate(zip(want, have, strict=True)):
                assert a == b, f"leg {leg}, packet {number} differs"
        # One SSRC per stream for its whole life: through the digit, the direction change,
        # the lost remote and the leg released and taken again (the bench's "SSRC changed
        # mid-blast" was RTCP read as RTP: tests/bench/test_conference_bench.py).
        assert all(len({p[8:12] for p in stream}) == 1 for stream in got)
        # Nothing vacuous: most packets went the numpy way, some the per-leg way, and the
        # streams carried audio, a digit's events and a gap while a leg could not send.
        assert batched.engine._frames.batched > 0.7 * sum(len(s) for s in got[:6])
        assert simple.engine._frames.batched == 0
        assert any(p[1] & 0x7F == 101 for p in got[1])
        assert len(got[2]) < len(got[0]) and len(got[3]) < len(got[5])
        assert {len(p) for p in got[7] if p[1] & 0x7F == 0} == {12 + 240}

    run(main())
