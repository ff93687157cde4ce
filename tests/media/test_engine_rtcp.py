"""The engine's RTCP sender reports: counts of what was really sent, and a load spread over ticks.

RFC 3550 §6.4.1: the SR's packet count is every RTP packet sent with the SSRC, the octet count
their payload bytes, whatever the ptime (a 30 ms PCMU leg sends 240-byte payloads) and with
RFC 4733 events among them (4 bytes each). Reports of many legs are spread over the interval
rather than all sent from one tick (900 legs' SRs at once cost 23 ms of CPU, more than a tick).
"""

from __future__ import annotations

import dataclasses

from phones import Phone, Runner, bridged_call, make_relay, open_phone
from spectrum import sine

from softswitch.media.engine import MediaEngine, TickFrames
from softswitch.media.engine_leg import EngineLeg, LegCodec
from softswitch.media.rtcp import RtcpCompound, SenderReport
from softswitch.media.rtp import RtpPacket

PCMU = LegCodec("PCMU", 0, 101)


class Tone:
    def __init__(self, legs: list[EngineLeg]) -> None:
        self.legs = legs
        self.audio = sine(700.0, 8000, 10.0)
        self.position = 0

    def process(self, frames: TickFrames) -> None:
        chunk = self.audio[self.position : self.position + 160]
        self.position += 160
        for leg in self.legs:
            frames.say[leg.row] = chunk
            frames.send[leg.row] = True


async def sender_report(phone: Phone) -> tuple[SenderReport, list[RtpPacket]]:
    """Read until the first SR; the RTP packets before it come back too."""
    media: list[RtpPacket] = []
    while True:
        data, _ = await phone.recv()
        if data[1] in (200, 201):
            report = RtcpCompound.parse(data).first(SenderReport)
            assert isinstance(report, SenderReport)
            return report, media
        media.append(RtpPacket.parse(data))


def test_the_sender_report_counts_the_packets_and_payload_octets_really_sent(
    run: Runner,
) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine(rtcp_interval_s=1e6)
        a, _, pa, _ = await bridged_call(relay)
        leg = engine.take(a, dataclasses.replace(PCMU, ptime_ms=30))
        engine.add_processor(Tone([leg]))
        for tick in range(12):
            if tick == 6:
                leg.send_digit("7", duration_ms=40)
            engine.tick(engine.clock())
        engine.send_reports(engine.clock())
        report, media = await sender_report(pa)
        audio = [p for p in media if p.header.payload_type == 0]
        events = [p for p in media if p.header.payload_type == 101]
        assert {len(p.payload) for p in audio} == {240} and events
        assert report.ssrc == a.sending_ssrc
        assert report.sender.packet_count == len(media) == leg.frames_sent
        assert report.sender.octet_count == sum(len(p.payload) for p in media)
        assert report.sender.octet_count != 160 * len(media)  # the old assumption
        # The RTP time of the report is the last packet's: the receiver can map it to NTP.
        assert report.sender.rtp_timestamp == media[-1].header.timestamp
        await relay.aclose()

    run(main())


def test_reports_of_many_legs_are_spread_over_the_interval(run: Runner) -> None:
    """40 legs, a 0.2 s interval (10 ticks): nothing in the first interval, then 4 legs a
    tick, each leg once per interval."""

    async def main() -> None:
        relay = make_relay()
        now = [50.0]
        engine = MediaEngine(clock=lambda: now[0], rtcp_interval_s=0.2)
        sink = await open_phone()
        legs = []
        for _ in range(40):
            endpoint = await relay.open_endpoint()
            endpoint.set_remote(*sink.address, rtcp_port=sink.address[1])
            legs.append(engine.take(endpoint, PCMU))
        engine.add_processor(Tone(legs))
        per_tick = []
        for tick in range(30):
            now[0] = 50.0 + 0.02 * tick
            before = sum(leg.rtcp_sent for leg in legs)
            engine.tick(now[0])
            per_tick.append(sum(leg.rtcp_sent for leg in legs) - before)
        assert per_tick[:10] == [0] * 10  # the first interval: audio only
        assert per_tick[10:] == [4] * 20
        assert {leg.rtcp_sent for leg in legs} == {2}
        sink.transport.close()
        await relay.aclose()

    run(main())
