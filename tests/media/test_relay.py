"""The RTP relay over real loopback sockets, with plain UDP sockets standing in for phones.

Every test runs on stock asyncio and on uvloop (the `run` fixture of conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from phones import (
    HOST,
    Runner,
    bridged_call,
    make_relay,
    open_phone,
    rtp,
    wait_until,
)

from softswitch.media.endpoint import Direction, RelayStats, RemoteAddressError
from softswitch.media.ports import PortAllocator, PortsExhausted
from softswitch.media.relay import MediaRelay
from softswitch.media.rtp import RtpPacket

OTHER_HOST = "127.0.0.2"  # also loopback on Linux: a second "machine" the policy can refuse
PCMA_SILENCE = b"\xd5" * 160


def test_bridge_relays_both_ways_in_order(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        sent_a = [rtp(1000 + i, 160 * i, 0xA, bytes([i]) * 160) for i in range(100)]
        sent_b = [rtp(5000 + i, 160 * i, 0xB, bytes([255 - i]) * 160) for i in range(100)]
        for pkt_a, pkt_b in zip(sent_a, sent_b, strict=True):
            pa.send_to(a, pkt_a)
            pb.send_to(b, pkt_b)
        got_at_b = [(await pb.recv()) for _ in range(100)]
        got_at_a = [(await pa.recv()) for _ in range(100)]
        assert [data for data, _ in got_at_b] == sent_a
        assert [data for data, _ in got_at_a] == sent_b
        # Each phone hears the other from the relay's port for its own leg (symmetric RTP).
        assert {addr[1] for _, addr in got_at_b} == {b.port}
        assert {addr[1] for _, addr in got_at_a} == {a.port}
        pa.send_to(a, b"rtcp from a", rtcp=True)
        assert await pb.recv() == (b"rtcp from a", (HOST, b.rtcp_port))
        stats = relay.stats()
        assert (stats.received, stats.relayed, stats.dropped, stats.lost) == (201, 201, 0, 0)
        assert a.stats().received == 101 and b.stats().relayed == 100
        await relay.aclose()

    run(main())


def test_latches_to_the_source_not_the_sdp_port(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, _, pb = await bridged_call(relay)
        sdp_only = await open_phone()  # where A's SDP says its media is
        behind_nat = await open_phone()  # where A's packets really come from
        a.set_remote(*sdp_only.address)
        pb.send_to(b, rtp(1, 0, 0xB))
        assert (await sdp_only.recv())[0] == rtp(1, 0, 0xB)  # before latching: the SDP address
        behind_nat.send_to(a, rtp(1, 0, 0xA))
        assert (await pb.recv())[0] == rtp(1, 0, 0xA)
        assert a.remote_rtp == behind_nat.address
        pb.send_to(b, rtp(2, 160, 0xB))
        assert (await behind_nat.recv())[0] == rtp(2, 160, 0xB)
        await sdp_only.assert_received_nothing()
        await relay.aclose()

    run(main())


def test_third_party_after_latching_is_dropped_until_set_remote(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, _, pa, pb = await bridged_call(relay)
        intruder = await open_phone()
        pa.send_to(a, rtp(1, 0, 0xA))
        pa.send_to(a, b"rtcp", rtcp=True)
        assert [(await pb.recv())[0] for _ in range(2)] == [rtp(1, 0, 0xA), b"rtcp"]
        intruder.send_to(a, rtp(7, 0, 0xBAD))
        intruder.send_to(a, b"rtcp", rtcp=True)
        await wait_until(lambda: a.stats().dropped_source == 2)
        await pb.assert_received_nothing()
        # A re-INVITE moves A to the intruder's address: the next packet may latch again.
        a.set_remote(*intruder.address)
        intruder.send_to(a, rtp(8, 160, 0xA2))
        assert RtpPacket.parse((await pb.recv())[0]).payload == b"\xd5" * 160
        pa.send_to(a, rtp(2, 160, 0xA))
        await wait_until(lambda: a.stats().dropped_source == 3)
        await pb.assert_received_nothing()
        await relay.aclose()

    run(main())


def test_garbage_neither_latches_nor_is_relayed(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, _, pa, pb = await bridged_call(relay)
        stranger = await open_phone()
        stranger.send_to(a, b"\x00\x01" + bytes(18))  # a STUN-like packet, version 0
        stranger.send_to(a, b"\x80\x00")  # too short for RTP
        await wait_until(lambda: a.stats().dropped_malformed == 2)
        pa.send_to(a, rtp(1, 0, 0xA))
        assert (await pb.recv())[0] == rtp(1, 0, 0xA)
        assert a.remote_rtp == pa.address
        await relay.aclose()

    run(main())


def test_ssrc_switch_keeps_one_continuous_stream(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        for i in range(5):  # early media from one source...
            pa.send_to(a, rtp(100 + i, 8000 + 160 * i, 0x1111))
        for i in range(5):  # ...then the answer from another, numbered from elsewhere
            pa.send_to(a, rtp(60000 + i, 999 + 160 * i, 0x2222, marker=i == 0))
        first = await pb.recv_rtp(5)
        assert [p.serialize() for p in first] == [
            rtp(100 + i, 8000 + 160 * i, 0x1111) for i in range(5)
        ]
        second = await pb.recv_rtp(5)
        heard = first + second
        assert {p.header.ssrc for p in heard} == {0x1111}
        assert [p.header.sequence for p in heard] == list(range(100, 110))
        assert [p.header.timestamp for p in heard] == [8000 + 160 * i for i in range(10)]
        assert [p.header.marker for p in second] == [True, False, False, False, False]
        assert all(p.payload == b"\xd5" * 160 for p in heard)
        # B's own stream to A was never touched.
        pb.send_to(b, rtp(7, 70, 0xB))
        assert (await pa.recv())[0] == rtp(7, 70, 0xB)
        await relay.aclose()

    run(main())


def test_rewiring_a_bridge_keeps_the_stream_continuous(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        c = await relay.open_endpoint()
        pc = await open_phone()
        c.set_remote(*pc.address)
        pa.send_to(a, rtp(0xFFFE, 0xFFFFFF60, 0xA))
        pa.send_to(a, rtp(0xFFFF, 0, 0xA))
        heard = await pb.recv_rtp(2)
        relay.bridge(c, b)  # B is transferred to C; A is left unbridged
        pc.send_to(c, rtp(40, 4000, 0xC))
        pc.send_to(c, rtp(41, 4160, 0xC))
        heard += await pb.recv_rtp(2)
        assert [p.header.ssrc for p in heard] == [0xA] * 4
        assert [p.header.sequence for p in heard] == [0xFFFE, 0xFFFF, 0, 1]
        assert [p.header.timestamp for p in heard] == [0xFFFFFF60, 0, 160, 320]
        pa.send_to(a, rtp(2, 320, 0xA))
        await wait_until(lambda: a.stats().dropped_unrouted == 1)
        await pb.assert_received_nothing()
        await relay.aclose()

    run(main())


def test_echo_returns_rtp_and_absorbs_rtcp(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        phone = await open_phone()
        relay.echo(ep)
        for i in range(10):
            phone.send_to(ep, rtp(i, 160 * i, 0xE, bytes([i]) * 160))
        for i in range(10):
            assert await phone.recv() == (rtp(i, 160 * i, 0xE, bytes([i]) * 160), (HOST, ep.port))
        phone.send_to(ep, b"\x81\xc9\x00\x01" + bytes(4), rtcp=True)
        await wait_until(lambda: ep.stats().received == 11)
        await phone.assert_received_nothing()
        assert ep.stats() == RelayStats(received=11, relayed=10)
        await relay.aclose()

    run(main())


def test_disallowed_destination_receives_nothing(
    run: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        relay = make_relay(allowed=lambda host: host == HOST)
        a, b = await relay.open_endpoint(), await relay.open_endpoint()
        pa, forbidden = await open_phone(), await open_phone(OTHER_HOST)
        a.set_remote(*pa.address)
        b.set_remote(*forbidden.address)
        relay.bridge(a, b)
        for i in range(3):
            pa.send_to(a, rtp(i, 160 * i, 0xA))
        await wait_until(lambda: a.stats().dropped_policy == 3)
        await forbidden.assert_received_nothing()
        # The forbidden host sending to us neither latches nor gets through.
        forbidden.send_to(b, rtp(1, 0, 0xB))
        await wait_until(lambda: b.stats().dropped_policy == 1)
        await pa.assert_received_nothing()
        assert b.remote_rtp == forbidden.address  # still the SDP address, never sent to
        assert relay.stats().relayed == 0
        refusals = [r for r in caplog.records if "refuses" in r.getMessage()]
        assert len(refusals) == 1
        await relay.aclose()

    with caplog.at_level(logging.WARNING, logger="softswitch.media.endpoint"):
        run(main())


def test_sendonly_blocks_what_the_leg_sends(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        relay.set_direction(a, Direction.SENDONLY)  # A put us on hold: we send, A doesn't
        pa.send_to(a, rtp(1, 0, 0xA))
        pb.send_to(b, rtp(1, 0, 0xB))
        assert (await pa.recv())[0] == rtp(1, 0, 0xB)
        await wait_until(lambda: a.stats().dropped_direction == 1)
        await pb.assert_received_nothing()
        relay.set_direction(a, Direction.INACTIVE)
        pb.send_to(b, rtp(2, 160, 0xB))
        await wait_until(lambda: b.stats().dropped_direction == 1)
        await pa.assert_received_nothing()
        relay.set_direction(a, Direction.SENDRECV)
        pa.send_to(a, rtp(2, 160, 0xA))
        assert (await pb.recv())[0] == rtp(2, 160, 0xA)
        await relay.aclose()

    run(main())


def test_loss_counts_gaps_across_wrap_around(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        phone = await open_phone()
        sequence = [65533, 65534, 65535, 0, 1]  # wrap without a gap: nothing lost
        sequence += [4, 5]  # 2 and 3 lost
        sequence += [3, 5]  # late and duplicate: no loss, and the expectation stays at 6
        sequence += [6, 9]  # 7 and 8 lost
        for seq in sequence:
            phone.send_to(ep, rtp(seq, 0, 0x10))
        await wait_until(lambda: ep.stats().received == len(sequence))
        assert ep.stats().lost == 4
        # Lost across the wrap itself: 65535 → 2 misses 0 and 1.
        other = await relay.open_endpoint()
        for seq in (65534, 65535, 2):
            phone.send_to(other, rtp(seq, 0, 0x20))
        await wait_until(lambda: other.stats().received == 3)
        assert other.stats().lost == 2
        assert relay.stats().lost == 6
        await relay.aclose()

    run(main())


def test_new_ssrc_is_not_counted_as_loss(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        phone = await open_phone()
        for seq, ssrc in ((10, 1), (11, 1), (30000, 2), (30001, 2), (30003, 2)):
            phone.send_to(ep, rtp(seq, 0, ssrc))
        await wait_until(lambda: ep.stats().received == 5)
        assert ep.stats().lost == 1
        assert ep.stats().dropped_unrouted == 5
        await relay.aclose()

    run(main())


def test_ports_held_elsewhere_are_skipped_and_close_returns_the_port(run: Runner) -> None:
    async def main() -> None:
        held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        held.bind((HOST, 0))
        busy = held.getsockname()[1] & ~1  # an even port...
        held.close()
        held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            held.bind((HOST, busy + 1))  # ...whose RTCP neighbour another process holds
        except OSError:
            pytest.skip("could not hold a port pair for the test")
        try:
            ports = PortAllocator(busy, busy + 3)
            relay = MediaRelay(HOST, ports, lambda host: True, max_parked=0)
            ep = await relay.open_endpoint()
            assert ep.port == busy + 2
            with pytest.raises(PortsExhausted):
                await relay.open_endpoint()
            assert ports.in_use == 1
            relay.close(ep)
            await ep.wait_closed()
            assert ports.in_use == 0
            with pytest.raises(ValueError, match="is closed"):
                relay.echo(ep)
        finally:
            held.close()

    run(main())


def test_an_endpoint_is_not_bridged_to_itself_and_keeps_its_bridge(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        try:
            a, b, pa, pb = await bridged_call(relay)
            with pytest.raises(ValueError, match="cannot be bridged to itself"):
                relay.bridge(a, a)
            # Refused before anything changed: A still talks to B, and A hears no echo.
            pa.send_to(a, rtp(1, 0, 0xA))
            pb.send_to(b, rtp(1, 0, 0xB))
            assert (await pb.recv())[0] == rtp(1, 0, 0xA)
            assert (await pa.recv())[0] == rtp(1, 0, 0xB)
            await pa.assert_received_nothing()
        finally:
            await relay.aclose()

    run(main())


def test_closed_endpoints_sockets_are_reused_oldest_first_and_start_clean(run: Runner) -> None:
    async def main() -> None:
        ports = PortAllocator(42100, 42107)  # 4 pairs: the relay must reuse parked ones
        relay = MediaRelay(HOST, ports, lambda host: True, max_parked=8)
        try:
            a, b, pa, pb = await bridged_call(relay)
            first_ports = (a.port, b.port)
            relay.close(a)
            relay.close(b)
            await a.wait_closed()
            assert ports.in_use == 2  # parked, not returned
            # A late packet of the old call reaches a parked socket: dropped, nobody hears it.
            pa.send_to(a, rtp(1, 0, 0xA, b"late"))
            # Below the reuse threshold, fresh ports come first...
            c, d = await relay.open_endpoint(), await relay.open_endpoint()
            assert {c.port, d.port}.isdisjoint(first_ports)
            # ...and when none is left, the oldest parked pair comes back.
            e = await relay.open_endpoint()
            assert e.port == first_ports[0]
            # The reused endpoint knows nothing of the old call: it relays once bridged anew.
            pc, pd = await open_phone(), await open_phone()
            e.set_remote(*pc.address, rtcp_port=pc.address[1])
            c.set_remote(*pd.address, rtcp_port=pd.address[1])
            relay.bridge(e, c)
            pc.send_to(e, rtp(7, 160, 0xC, b"new call"))
            assert (await pd.recv())[0] == rtp(7, 160, 0xC, b"new call")
            assert e.stats().received == 1
            await pb.assert_received_nothing()
        finally:
            await relay.aclose()
        assert ports.in_use == 0

    run(main())


def test_stats_survive_close_and_idle_follows_traffic(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        a, b, pa, pb = await bridged_call(relay)
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert a.idle_seconds(start + 30) == pytest.approx(30, abs=1)
        pa.send_to(a, rtp(1, 0, 0xA))
        await pb.recv()
        assert a.idle_seconds(start + 31) == 0
        assert a.idle_seconds(start + 40) == 9
        assert b.idle_seconds(start + 40) == pytest.approx(40, abs=1)
        relay.close(a)
        relay.close(b)
        await a.wait_closed()
        await b.wait_closed()
        assert relay.open_endpoints == 0
        assert relay.stats() == RelayStats(received=1, relayed=1)

    run(main())


def test_set_remote_rejects_what_it_cannot_send_to(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        ep = await relay.open_endpoint()
        for host, port in (("phone.example.com", 4000), ("::1", 4000), (HOST, 0), (HOST, 65535)):
            with pytest.raises(RemoteAddressError) as info:
                ep.set_remote(host, port)
            assert info.value.status_hint == 488
        ep.set_remote(HOST, 4000, rtcp_port=4444)  # RFC 3605 a=rtcp
        assert (ep.remote_rtp, ep.remote_rtcp) == ((HOST, 4000), (HOST, 4444))
        ep.set_remote("0.0.0.0", 4000)  # RFC 2543 hold: no address until the peer sends
        assert ep.remote_rtp is None
        await relay.aclose()

    run(main())


def _free_range(pairs: int) -> PortAllocator:
    """Ports below the ephemeral range that nothing holds now: a held port would be skipped,
    and these tests count pairs."""
    for base in range(24000, 32000, 2 * pairs):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + 2 * pairs):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((HOST, port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return PortAllocator(base, base + 2 * pairs - 1)
    pytest.skip(f"no {pairs} free port pairs in a row on {HOST}")


async def _spares(relay: MediaRelay, count: int) -> None:
    for _ in range(2000):  # bounded: the fill is a few binds and loop turns
        if relay.spare_endpoints >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"only {relay.spare_endpoints} pairs bound ahead, {count} expected")


def test_endpoints_opened_now_come_from_pairs_bound_ahead_and_relay(run: Runner) -> None:
    async def main() -> None:
        ports = _free_range(10)
        relay = MediaRelay(HOST, ports, lambda host: True, spare=3)
        try:
            assert relay.open_endpoint_now() is None  # nothing bound yet: the caller awaits
            await _spares(relay, 3)
            assert ports.in_use == 3 and relay.open_endpoints == 0
            a, b = relay.open_endpoint_now(), relay.open_endpoint_now()  # no loop turn between
            assert a is not None and b is not None and a.port != b.port
            assert relay.open_endpoints == 2
            pa, pb = await open_phone(), await open_phone()
            a.set_remote(*pa.address, rtcp_port=pa.address[1])
            b.set_remote(*pb.address, rtcp_port=pb.address[1])
            relay.bridge(a, b)
            pa.send_to(a, rtp(1, 0, 0xA, b"via a spare"))
            assert (await pb.recv())[0] == rtp(1, 0, 0xA, b"via a spare")
            await _spares(relay, 3)  # topped up again
            assert ports.in_use == 5
        finally:
            await relay.aclose()
        assert ports.in_use == 0  # spares closed with the rest

    run(main())


def test_pairs_bound_ahead_serve_open_endpoint_when_the_range_is_used_up(run: Runner) -> None:
    async def main() -> None:
        ports = _free_range(3)
        relay = MediaRelay(HOST, ports, lambda host: True, spare=2, max_parked=0)
        try:
            assert relay.open_endpoint_now() is None
            await _spares(relay, 2)
            last = await relay.open_endpoint()  # the one pair left unbound
            first = await relay.open_endpoint()  # then a spare
            second = await relay.open_endpoint()
            assert len({last.port, first.port, second.port}) == 3
            with pytest.raises(PortsExhausted):
                await relay.open_endpoint()
            assert relay.open_endpoint_now() is None  # nothing left to bind ahead either
        finally:
            await relay.aclose()
        assert ports.in_use == 0

    run(main())


def test_a_tapped_endpoint_lists_what_it_passes_on_with_its_arrival(run: Runner) -> None:
    """The recording tap of a relayed call (media/packet_tap.py): what was relayed, in arrival
    order, each with its arrival on the monotonic clock; what a direction drops is not listed."""

    async def main() -> None:
        relay = make_relay()
        a, _, pa, pb = await bridged_call(relay)
        tapped: list[tuple[bytes, float]] = []
        a.tap_packets(tapped)
        before = time.monotonic()
        sent = [rtp(10 + i, 160 * i, 0xA, bytes([i]) * 160) for i in range(5)]
        for packet in sent:
            pa.send_to(a, packet)
        got = [(await pb.recv())[0] for _ in range(5)]
        after = time.monotonic()
        assert got == sent and [data for data, _ in tapped] == sent
        for i, (_, transit) in enumerate(tapped):
            assert before * 8000 <= transit + 160 * i <= after * 8000
        relay.set_direction(a, Direction.SENDONLY)  # what A sends is dropped: not recorded
        pa.send_to(a, rtp(15, 800, 0xA))
        await wait_until(lambda: a.stats().dropped_direction == 1)
        a.tap_packets(None)
        relay.set_direction(a, Direction.SENDRECV)
        pa.send_to(a, rtp(16, 960, 0xA))
        assert (await pb.recv())[0] == rtp(16, 960, 0xA)
        assert len(tapped) == 5
        await relay.aclose()

    run(main())
