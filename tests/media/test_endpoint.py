"""Media endpoints switched between routes (relay, echo, consumer) over real loopback sockets:
no packet lost, no socket changed, and one continuous stream toward each phone."""

from __future__ import annotations

import itertools

import pytest
from phones import Runner, bridged_call, make_relay, open_phone, rtp, wait_until

from softswitch.media.endpoint import Direction, MediaEndpoint, Route
from softswitch.media.rtcp import ReportBlock, report_compound
from softswitch.media.rtp import RtpPacket


class Sink:
    """A consumer standing in for the tick engine: keeps what it is given."""

    def __init__(self) -> None:
        self.packets: list[tuple[RtpPacket, MediaEndpoint]] = []

    def __call__(self, data: bytes, endpoint: MediaEndpoint) -> None:
        self.packets.append((RtpPacket.parse(data), endpoint))


def test_relay_to_consumer_to_relay_loses_nothing_and_keeps_one_stream(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        ports = (a.port, b.port)
        for i in range(3):
            pa.send_to(a, rtp(100 + i, 1000 + 160 * i, 0xA))
        heard = await pb.recv_rtp(3)
        assert a.route is Route.RELAY and b.route is Route.RELAY

        sink = Sink()
        a.deliver(sink)  # the engine takes A's audio (a prompt, a recorder, a mixer)
        b.deliver(sink)
        assert a.route is Route.CONSUMER and b.route is Route.CONSUMER
        for i in range(3, 6):
            pa.send_to(a, rtp(100 + i, 1000 + 160 * i, 0xA))
        await wait_until(lambda: len(sink.packets) == 3)
        assert [p.header.sequence for p, _ in sink.packets] == [103, 104, 105]
        assert {ep for _, ep in sink.packets} == {a}
        # The engine plays three frames to B out of B's endpoint.
        for _ in range(3):
            assert b.send_frame(b"\xd5" * 160, 8, 160)
        heard += await pb.recv_rtp(3)

        relay.bridge(a, b)  # back to the cheap path
        for i in range(6, 9):
            pa.send_to(a, rtp(100 + i, 1000 + 160 * i, 0xA))
        heard += await pb.recv_rtp(3)

        assert (a.port, b.port) == ports
        assert {p.header.ssrc for p in heard} == {0xA}
        assert [p.header.sequence for p in heard] == list(range(100, 109))
        timestamps = [p.header.timestamp for p in heard]
        assert [t2 - t1 for t1, t2 in itertools.pairwise(timestamps)] == [160] * 8
        # The receiver re-syncs playout where the engine took over; the relay then continues
        # the engine's frames exactly, so its packets go out untouched.
        assert [p.header.marker for p in heard] == [False] * 3 + [True] + [False] * 5
        assert a.stats().received == 9 and a.stats().dropped == 0
        assert b.stats().frames_sent == 3
        await relay.aclose()

    run(main())


def test_echo_and_consumer_switch_on_the_same_socket(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        phone = await open_phone()
        ep.set_remote(*phone.address)
        ep.echo()
        phone.send_to(ep, rtp(1, 160, 0x5))
        assert (await phone.recv_rtp(1))[0].header.sequence == 1
        sink = Sink()
        ep.deliver(sink)
        phone.send_to(ep, rtp(2, 320, 0x5))
        await wait_until(lambda: len(sink.packets) == 1)
        await phone.assert_received_nothing()
        ep.echo()
        phone.send_to(ep, rtp(3, 480, 0x5))
        back = (await phone.recv_rtp(1))[0]
        # What the phone hears from us is one stream: 1 then 2 (packet 2 went to the consumer).
        assert (back.header.sequence, back.header.timestamp, back.header.marker) == (2, 320, True)
        assert ep.stats().received == 3 and ep.stats().dropped == 0
        await relay.aclose()

    run(main())


def test_consumer_and_frames_follow_the_direction(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        phone = await open_phone()
        ep.set_remote(*phone.address)
        sink = Sink()
        ep.deliver(sink)
        ep.set_direction(Direction.SENDONLY)  # we only send to this leg: its audio is dropped
        phone.send_to(ep, rtp(1, 160, 0x5))
        await wait_until(lambda: ep.stats().dropped_direction == 1)
        assert sink.packets == []
        assert ep.send_frame(b"\xff" * 160, 0, 160)
        first = (await phone.recv_rtp(1))[0]
        assert first.header.marker and first.header.payload_type == 0
        ep.set_direction(Direction.RECVONLY)
        assert not ep.send_frame(b"\xff" * 160, 0, 160)
        phone.send_to(ep, rtp(2, 320, 0x5))
        await wait_until(lambda: len(sink.packets) == 1)
        await phone.assert_received_nothing()
        # A new source while delivering is just a new source: no continuity rewrite.
        ep.set_direction(Direction.SENDRECV)
        phone.send_to(ep, rtp(900, 9000, 0x6))
        await wait_until(lambda: len(sink.packets) == 2)
        assert ep.ssrc == 0x6
        await relay.aclose()

    run(main())


def test_a_relayed_endpoint_refuses_frames(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, _, _ = await bridged_call(relay)
        with pytest.raises(ValueError, match="relayed"):
            b.send_frame(b"\xd5" * 160, 8, 160)
        relay.close(a)
        with pytest.raises(ValueError, match="closed"):
            a.deliver(Sink())
        await relay.aclose()

    run(main())


def test_loss_and_jitter_are_counted_whatever_the_route_and_the_phone_s_reports_kept(
    run: Runner,
) -> None:
    """100 packets from A with every tenth missing, sent in one burst (each arrives about 20 ms
    of timestamp apart from the last: RFC 3550 jitter near 20 ms), half of them relayed and
    half delivered to a consumer: A's leg shows 10 % received loss. B's phone reports twice
    about the stream it gets: B's leg shows the loss between the reports and the last jitter."""

    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        sent = [i for i in range(100) if i % 10 != 5]
        for i in sent[:45]:
            pa.send_to(a, rtp(1000 + i, 160 * i, 0xA))
        await pb.recv_rtp(45)
        sink = Sink()
        a.deliver(sink)
        for i in sent[45:]:
            pa.send_to(a, rtp(1000 + i, 160 * i, 0xA))
        await wait_until(lambda: len(sink.packets) == 45)
        assert b.media_quality().sent is None  # B's phone has reported nothing yet
        for highest, lost in ((70_000, 5), (70_500, 30)):
            block = ReportBlock(0xA, 10, lost, highest, 240, 0, 0)
            pb.send_to(b, report_compound(0xB0B, b"b", (block,)).serialize(), rtcp=True)
        await wait_until(lambda: b.stats().received == 2)  # RTCP is counted with RTP

        received = a.media_quality().received
        assert received is not None
        assert received.loss_ratio == pytest.approx(0.1)
        assert received.jitter_s is not None and 0.015 < received.jitter_s < 0.03
        assert 1.0 < received.mos < 4.0  # 10 % loss is poor
        reported = b.media_quality().sent
        assert reported is not None
        assert reported.loss_ratio == pytest.approx(0.05) and reported.jitter_s == 0.03
        assert b.media_quality().received is None  # B's phone sent no RTP
        await relay.aclose()

    run(main())
