"""The tick engine over real loopback sockets: a leg taken from the relay mid-call keeps one
stream toward its phone, audio is decoded, transcoded and sent, digits arrive by RFC 4733 and
in-band and leave by RFC 4733, and RTCP reports go both ways. Ticks are run by hand, one per
packet received, so the tests wait on conditions, never on time."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from phones import Phone, Runner, bridged_call, make_relay, wait_until
from signals import dtmf, silence, to_int16
from spectrum import peaks_hz, sine

from softswitch.media.dtmf import DigitEnded, DigitEvent, DigitStarted, DtmfMethod
from softswitch.media.endpoint import MediaEndpoint, Route
from softswitch.media.engine import MediaEngine, TickFrames
from softswitch.media.engine_leg import DtmfDetection, EngineLeg, LegCodec
from softswitch.media.rtcp import ReceiverReport, RtcpCompound, SenderReport, ntp_middle
from softswitch.media.rtp import RtpHeader
from softswitch_codecs.g711 import alaw_decode, ulaw_decode, ulaw_encode
from softswitch_codecs.telephone_event import TelephoneEvent

PCMU = LegCodec("PCMU", 0, 101)
PCMA = LegCodec("PCMA", 8, 101)


def packet(seq: int, ts: int, ssrc: int, payload: bytes, pt: int, marker: bool = False) -> bytes:
    header = RtpHeader(payload_type=pt, sequence=seq, timestamp=ts, ssrc=ssrc, marker=marker)
    return header.serialize() + payload


class Tone:
    """A processor playing one tone to the legs it is given."""

    def __init__(self, legs: list[EngineLeg], freq_hz: float) -> None:
        self.legs = legs
        self.audio = sine(freq_hz, 8000, 10.0)
        self.position = 0

    def process(self, frames: TickFrames) -> None:
        chunk = self.audio[self.position : self.position + 160]
        self.position += 160
        for leg in self.legs:
            frames.say[leg.row] = chunk
            frames.send[leg.row] = True


class Cross:
    """A processor connecting two legs' audio: the transcoding bridge in miniature."""

    def __init__(self, a: EngineLeg, b: EngineLeg) -> None:
        self.a, self.b = a, b

    def process(self, frames: TickFrames) -> None:
        a, b = self.a.row, self.b.row
        frames.say[a], frames.say[b] = frames.heard[b], frames.heard[a]
        frames.send[[a, b]] = True


async def feed(
    engine: MediaEngine,
    phone: Phone,
    endpoint: MediaEndpoint,
    leg: EngineLeg,
    payloads: list[bytes],
    *,
    pt: int,
    ssrc: int = 0xA11CE,
    first_seq: int = 1000,
) -> list[TickFrames]:
    """Send one packet per tick to `endpoint` and run the tick once it arrived."""
    ticks = []
    for i, payload in enumerate(payloads):
        phone.send_to(endpoint, packet(first_seq + i, 160 * i, ssrc, payload, pt))
        await wait_until(lambda n=i: leg.jitter.stats().packets == n + 1)
        ticks.append(engine.tick(engine.clock()))
    return ticks


def test_a_bridged_leg_taken_mid_call_keeps_one_stream_and_hears_the_engine(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        for i in range(3):
            pa.send_to(a, packet(100 + i, 160 * i, 0xA, b"\xff" * 160, 0))
        heard = await pb.recv_rtp(3)
        leg = engine.take(b, PCMU)
        assert b.route is Route.CONSUMER and a.route is Route.UNROUTED
        engine.add_processor(Tone([leg], 1000.0))
        for _ in range(25):
            engine.tick(engine.clock())
        heard += await pb.recv_rtp(25)
        assert {p.header.ssrc for p in heard} == {0xA}
        assert [p.header.sequence for p in heard] == list(range(100, 128))
        steps = {t2 - t1 for t1, t2 in itertools.pairwise(p.header.timestamp for p in heard)}
        assert steps == {160}
        assert [p.header.marker for p in heard[2:5]] == [False, True, False]
        audio = ulaw_decode(np.frombuffer(b"".join(p.payload for p in heard[3:]), np.uint8))
        assert abs(peaks_hz(audio, 8000)[0] - 1000.0) < 10
        engine.release(leg)
        assert b.route is Route.UNROUTED and engine.legs == ()
        relay.bridge(a, b)  # the pass-through again, continuing the engine's stream
        pa.send_to(a, packet(103, 480, 0xA, b"\xff" * 160, 0))
        (after,) = await pb.recv_rtp(1)
        assert after.header.sequence == 128 and after.header.ssrc == 0xA
        await relay.aclose()

    run(main())


def test_a_pcmu_leg_and_a_pcma_leg_hear_each_other_at_the_tones_frequency(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        la, lb = engine.take(a, PCMU), engine.take(b, PCMA)
        engine.add_processor(Cross(la, lb))
        tone = sine(440.0, 8000, 1.0)
        payloads = [ulaw_encode(tone[i : i + 160]).tobytes() for i in range(0, 8000, 160)]
        await feed(engine, pa, a, la, payloads, pt=0)
        packets = await pb.recv_rtp(50)
        assert {p.header.payload_type for p in packets} == {8}
        audio = alaw_decode(np.frombuffer(b"".join(p.payload for p in packets), np.uint8))
        assert abs(peaks_hz(audio[800:], 8000)[0] - 440.0) < 10
        # B sent nothing: A hears the silence the engine encodes, as PCMU.
        back = await pa.recv_rtp(50)
        assert {p.header.payload_type for p in back} == {0}
        assert np.abs(ulaw_decode(np.frombuffer(back[-1].payload, np.uint8))).max() < 10
        await relay.aclose()

    run(main())


def event(digit_code: int, end: bool, duration: int) -> bytes:
    return TelephoneEvent(digit_code, end, 10, duration).serialize()


def test_rfc4733_digits_are_delivered_once_at_the_tick(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, _, pa, _ = await bridged_call(relay)
        digits: list[DigitEvent] = []
        leg = engine.take(a, PCMU, on_digit=digits.append)
        # "7": three updates and the end bit sent three times, all at timestamp 800.
        payloads = [event(7, False, d) for d in (160, 320, 480)] + [event(7, True, 640)] * 3
        for i, payload in enumerate(payloads):
            pa.send_to(a, packet(10 + i, 800, 0xA, payload, 101, marker=i == 0))
        await wait_until(lambda: leg.events is not None and leg.events.retransmitted_ends == 2)
        assert digits == []  # found per packet, delivered at the tick
        engine.tick(engine.clock())
        assert [type(d) for d in digits] == [DigitStarted, DigitEnded]
        assert {d.digit for d in digits} == {"7"} and digits[0].method is DtmfMethod.RFC4733
        assert isinstance(digits[1], DigitEnded) and digits[1].duration_ms == 80.0
        await relay.aclose()

    run(main())


def test_inband_digits_are_found_in_the_decoded_audio_of_legs_that_ask(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        found: dict[str, list[DigitEvent]] = {"a": [], "b": []}
        la = engine.take(a, PCMU, detection=DtmfDetection.INBAND, on_digit=found["a"].append)
        lb = engine.take(b, PCMU, on_digit=found["b"].append)
        signal = np.concatenate(
            [silence(100)] + [np.concatenate([dtmf(d, 80), silence(80)]) for d in "19#"]
        )
        audio = to_int16(np.concatenate([signal, silence(200)]))
        payloads = [ulaw_encode(audio[i : i + 160]).tobytes() for i in range(0, audio.size, 160)]
        await feed(engine, pa, a, la, payloads, pt=0)
        await feed(engine, pb, b, lb, payloads, pt=0, first_seq=5000)  # b does not listen
        ended = [d.digit for d in found["a"] if isinstance(d, DigitEnded)]
        assert ended == ["1", "9", "#"]
        assert {d.method for d in found["a"]} == {DtmfMethod.INBAND}
        assert found["b"] == []
        await relay.aclose()

    run(main())


def test_digits_sent_by_rfc4733_share_a_timestamp_end_three_times_and_audio_resumes(
    run: Runner,
) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        _, b, _, pb = await bridged_call(relay)
        leg = engine.take(b, PCMU)
        engine.add_processor(Tone([leg], 500.0))
        engine.tick(engine.clock())
        leg.send_digit("5", duration_ms=100)
        for _ in range(12):
            engine.tick(engine.clock())
        sent = await pb.recv_rtp(1 + 4 + 3 + 7)
        first_audio, events, after = sent[0], sent[1:8], sent[8:]
        assert {p.header.payload_type for p in events} == {101}
        start = first_audio.header.timestamp + 160
        assert {p.header.timestamp for p in events} == {start}
        parsed = [TelephoneEvent.parse(p.payload) for p in events]
        assert [e.end for e in parsed] == [False] * 4 + [True] * 3
        assert {e.event for e in parsed} == {5}
        assert events[0].header.marker and not any(p.header.marker for p in events[1:])
        assert [e.duration for e in parsed[:4]] == [160, 320, 480, 640]
        assert {p.header.payload_type for p in after} == {0}
        assert after[0].header.timestamp == start + 800  # audio resumes after the event
        seqs = [p.header.sequence for p in sent]
        assert all((s2 - s1) & 0xFFFF == 1 for s1, s2 in itertools.pairwise(seqs))
        await relay.aclose()

    run(main())


def test_engine_legs_send_and_read_rtcp_reports(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, _, pa, _ = await bridged_call(relay)
        leg = engine.take(a, PCMU)
        engine.add_processor(Tone([leg], 700.0))
        payloads = [b"\xff" * 160] * 10
        await feed(engine, pa, a, leg, payloads, pt=0)
        engine.send_reports(engine.clock())
        reports: list[RtcpCompound] = []
        while not reports:
            data, _ = await pa.recv()
            if data[1] in (200, 201):
                reports.append(RtcpCompound.parse(data))
        sr = reports[0].first(SenderReport)
        assert isinstance(sr, SenderReport) and sr.ssrc == a.sending_ssrc
        (block,) = sr.reports
        assert block.ssrc == 0xA11CE and block.highest_sequence & 0xFFFF == 1009
        # The phone's report about our stream, echoing our SR's time: the round trip is read.
        about_us = dataclasses.replace(
            block, ssrc=sr.ssrc, last_sr=ntp_middle(sr.sender.ntp_timestamp)
        )
        pa.send_to(a, RtcpCompound((ReceiverReport(0xA11CE, (about_us,)),)).serialize(), rtcp=True)
        await wait_until(lambda: leg.rtcp_received == 1)
        quality = leg.quality()
        assert quality.packets == 10 and quality.lost == 0 and quality.rtcp_sent == 1
        assert quality.round_trip_ms is not None and 0 <= quality.round_trip_ms < 1000
        await relay.aclose()

    run(main())


def test_packets_with_csrcs_extensions_padding_or_garbage_never_break_a_tick(
    run: Runner,
) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, _, pa, _ = await bridged_call(relay)
        leg = engine.take(a, PCMU)
        base = RtpHeader(0, 1, 0, 7, csrcs=(1, 2), extension_profile=1, extension_data=bytes(4))
        pa.send_to(a, base.serialize() + b"\xff" * 160)
        pa.send_to(a, b"\x80")  # too short: the endpoint drops it before the engine
        pa.send_to(a, b"\x90\x00" + bytes(10) + b"\x00\x00\x00\x09")  # extension past the end
        await wait_until(lambda: leg.malformed == 1 and leg.jitter.stats().packets == 1)
        assert leg.jitter.stats().malformed == 0  # the payload past CSRCs and extension
        frames = engine.tick(engine.clock())
        assert frames.heard.shape == (1, 160)
        await relay.aclose()

    run(main())


def test_cost_per_leg_is_measured(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, _, _ = await bridged_call(relay)
        engine.add_processor(Cross(engine.take(a, PCMU), engine.take(b, PCMA)))
        for _ in range(5):
            engine.tick(engine.clock())
        assert engine.stats.leg_ticks == 10 and engine.tick_cost_per_leg_s > 0
        await relay.aclose()

    run(main())


class ReleaseMidTick:
    """A processor that, like a playback's end, releases one leg and takes another in the tick."""

    def __init__(self, engine: MediaEngine, leaving: EngineLeg, joining: MediaEndpoint) -> None:
        self.engine, self.leaving, self.joining = engine, leaving, joining
        self.taken: EngineLeg | None = None

    def process(self, frames: TickFrames) -> None:
        for leg in frames.legs:
            frames.send[leg.row] = True
        if self.taken is None:
            self.engine.release(self.leaving)
            self.taken = self.engine.take(self.joining, PCMA)
            assert self.taken.row == -1  # its row comes when the tick ends


def test_a_leg_released_and_a_leg_taken_inside_a_tick_leave_that_tick_whole(run: Runner) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        la = engine.take(a, PCMU)
        lb = engine.take(b, PCMU)
        engine.add_processor(Tone([lb], 600.0))
        # Release a's leg (row 0, renumbering b's) and take a again as PCMA, both in the tick.
        mover = ReleaseMidTick(engine, la, a)
        engine.add_processor(mover)
        engine.tick(engine.clock())  # encodes b's row without CodecUsageError
        assert mover.taken is not None and engine.legs == (lb, mover.taken)
        assert mover.taken.row == 1 and engine.leg_of(a) is mover.taken and lb.row == 0
        engine.remove_processor(mover)
        engine.add_processor(Tone([mover.taken], 600.0))
        engine.tick(engine.clock())
        first, second = await pb.recv_rtp(2)
        assert second.header.sequence == first.header.sequence + 1  # b's stream went on
        audio = ulaw_decode(np.frombuffer(first.payload + second.payload, np.uint8))
        assert np.abs(audio).max() > 1000  # the tone, not a silenced tick
        (to_a,) = await pa.recv_rtp(1)  # nothing for a in the tick that released it
        assert to_a.header.payload_type == 8
        assert engine.stats.frames_sent == 3
        await relay.aclose()

    run(main())


def test_the_end_retransmissions_of_a_digit_are_not_reported_again_after_a_move(
    run: Runner,
) -> None:
    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, _, pa, _ = await bridged_call(relay)
        first: list[DigitEvent] = []
        leg = engine.take(a, PCMU, on_digit=first.append)
        for i, d in enumerate((160, 320)):
            pa.send_to(a, packet(10 + i, 800, 0xA, event(1, False, d), 101, marker=i == 0))
        pa.send_to(a, packet(12, 800, 0xA, event(1, True, 480), 101))
        await wait_until(lambda: leg.events is not None and leg.events.digits == 1)
        engine.tick(engine.clock())
        assert [type(d) for d in first] == [DigitStarted, DigitEnded]
        # The key moved the leg (IVR -> queue): its next application takes the endpoint.
        engine.release(leg)
        second: list[DigitEvent] = []
        moved = engine.take(a, PCMU, on_digit=second.append)
        for i in range(2):  # the two other end copies, reaching the new leg
            pa.send_to(a, packet(13 + i, 800, 0xA, event(1, True, 480), 101))
        await wait_until(lambda: moved.events is not None and moved.events.retransmitted_ends == 2)
        engine.tick(engine.clock())
        assert second == []
        # A new press of the same key is a new event (a new timestamp): it is reported.
        pa.send_to(a, packet(15, 2400, 0xA, event(1, True, 480), 101, marker=True))
        await wait_until(lambda: moved.events is not None and moved.events.digits == 2)
        engine.tick(engine.clock())
        assert [d.digit for d in second if isinstance(d, DigitEnded)] == ["1"]
        await relay.aclose()

    run(main())


@pytest.mark.parametrize("ptime_ms", [10, 30, 40])
def test_what_a_leg_is_sent_follows_its_ptime_with_one_continuous_stream(
    run: Runner, ptime_ms: int
) -> None:
    """30 ticks of a tone (600 ms) reach a 10, 30 or 40 ms phone as packets of its ptime,
    timestamps stepping by the packet, sequence unbroken, the tone intact; when the audio stops
    what was queued goes out at once, and a digit after it starts where the audio ended."""

    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        _, b, _, pb = await bridged_call(relay)
        leg = engine.take(b, dataclasses.replace(PCMU, ptime_ms=ptime_ms))
        tone = Tone([leg], 700.0)
        engine.add_processor(tone)
        for _ in range(30):
            engine.tick(engine.clock())
        units = 8 * ptime_ms
        sent = await pb.recv_rtp(600 // ptime_ms)
        assert {len(p.payload) for p in sent} == {units}
        steps = {t2 - t1 for t1, t2 in itertools.pairwise(p.header.timestamp for p in sent)}
        assert steps == {units}
        seqs = [p.header.sequence for p in sent]
        assert all((s2 - s1) & 0xFFFF == 1 for s1, s2 in itertools.pairwise(seqs))
        audio = ulaw_decode(np.frombuffer(b"".join(p.payload for p in sent), np.uint8))
        assert np.array_equal(audio, ulaw_decode(ulaw_encode(tone.audio[:4800])))
        # One more tick of audio, then a digit: what was queued goes out before its events.
        engine.tick(engine.clock())
        leg.send_digit("1", duration_ms=40)
        for _ in range(2):
            engine.tick(engine.clock())
        before = 160 // units if units <= 160 else 1
        after = await pb.recv_rtp(before + 1 + 3)
        audio_after = [p for p in after if p.header.payload_type == 0]
        assert sum(len(p.payload) for p in audio_after) == 160
        events = [p for p in after if p.header.payload_type == 101]
        assert len(events) == 4 and after[-4:] == events
        last_audio = audio_after[-1]
        start = last_audio.header.timestamp + len(last_audio.payload)
        assert events[0].header.timestamp == start
        # Four ticks of audio after the event, then the audio stops: the rest is flushed.
        for _ in range(4):
            engine.tick(engine.clock())
        engine.remove_processor(tone)
        engine.tick(engine.clock())
        tail = await pb.recv_rtp(640 // units + (1 if 640 % units else 0))
        assert sum(len(p.payload) for p in tail) == 640
        assert tail[0].header.timestamp == start + 320  # after the event's 40 ms
        steps = [t2 - t1 for t1, t2 in itertools.pairwise(p.header.timestamp for p in tail)]
        assert steps == [len(p.payload) for p in tail[:-1]]
        await pb.assert_received_nothing()
        await relay.aclose()

    run(main())


def test_a_30ms_phone_bridged_to_a_20ms_phone_is_heard_whole(run: Runner) -> None:
    """A phone sending 30 ms packets (two every three ticks) through a crossing to a 20 ms
    phone: the 20 ms side gets one packet a tick with the tone, nothing concealed after the
    buffer filled, and the 30 ms side, whose SDP named no ptime, is sent 30 ms packets back."""

    async def main() -> None:
        relay, engine = make_relay(), MediaEngine()
        a, b, pa, pb = await bridged_call(relay)
        la, lb = engine.take(a, PCMU), engine.take(b, PCMA)
        engine.add_processor(Cross(la, lb))
        tone = sine(440.0, 8000, 2.0)
        packets = [ulaw_encode(tone[i : i + 240]).tobytes() for i in range(0, 14400, 240)]
        sent = 0
        for tick in range(90):
            # packets whose first sample is due by the end of this tick
            while sent < len(packets) and sent * 240 < (tick + 1) * 160:
                pa.send_to(a, packet(500 + sent, 240 * sent, 0x30, packets[sent], 0))
                sent += 1
                await wait_until(lambda n=sent: la.jitter.stats().packets == n)
            engine.tick(engine.clock())
        assert engine.stats.frames_concealed == 0
        to_b = await pb.recv_rtp(88)  # the first tick or two fill the buffer
        assert {len(p.payload) for p in to_b} == {160}
        audio = alaw_decode(np.frombuffer(b"".join(p.payload for p in to_b), np.uint8))
        assert abs(peaks_hz(audio[800:], 8000)[0] - 440.0) < 5
        # Continuous: one period of the tone repeats exactly across packet boundaries.
        body = audio[800:12000].astype(np.float64)
        assert float(np.corrcoef(body[:-400], body[400:])[0, 1]) > 0.99  # 440 Hz: 400 = 22 periods
        back = await pa.recv_rtp(50)
        assert {len(p.payload) for p in back[5:]} == {240}  # 20 ms until its first packet
        await relay.aclose()

    run(main())
