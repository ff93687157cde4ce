"""SRTP (SDES, RFC 4568) on legs that signal over TLS, with pjsua2 phones set to SRTP mandatory.

What a user sees: each phone hears the other's tone (FFT of what it recorded), and what tshark
captured on the SRTP legs is not the PCMU of the tone (every packet carries the 10-byte tag of
AES_CM_128_HMAC_SHA1_80, and its payload decodes to noise), while the plain leg of a mixed call
carries the tone in clear. A plain offer from, or to, a party whose SRTP is mandatory gets 488.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from audio import dominant_frequency, read_mono, voiced, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, Switch, free_port, start_switch

from softswitch.certificates import self_signed
from softswitch_codecs import ulaw_decode

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOCAL = "127.0.0.1"
RECORD_S = 2.5
RTP_PLAIN = 12 + 160  # header + 20 ms of PCMU
SRTP_TAG_80 = 10  # RFC 3711 §4.2 HMAC-SHA1 truncated to 80 bits
TSHARK = shutil.which("tshark")


def _switch(tmp_path: Path, carrier_port: int, srtp: dict[str, str], **extension: str) -> Switch:
    cert, key = self_signed(tmp_path / "switch-tls")
    return start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {"port": free_port(), "certificate": str(cert), "private_key": str(key)},
        },
        # Not recorded (the example records every call): a recorded call runs in the engine,
        # and these tests are about the relay's path unless they say otherwise.
        extensions={
            number: {"srtp": mode, "record": False, **extension}
            for number, mode in {"1001": "off", "1002": "off", **srtp}.items()
        },
    )


def _tls_port(sw: Switch) -> int:
    return int(tomllib.loads(sw.config_path.read_text())["tls"]["port"])


class Capture:
    """tshark on loopback for the switch's RTP ports; `flows()` gives the UDP payloads by
    (source port, destination port)."""

    def __init__(self, path: Path, ports: tuple[int, int]) -> None:
        assert TSHARK is not None
        self.path = path
        self._stderr = path.with_suffix(".stderr")
        with open(self._stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [TSHARK, "-i", "lo", "-f", f"udp portrange {ports[0]}-{ports[1]}", "-w", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 10.0
        while b"Capturing on" not in self._stderr.read_bytes():
            assert self.proc.poll() is None, self._stderr.read_text()
            assert time.monotonic() < deadline, "tshark did not start capturing"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def flows(self) -> dict[tuple[int, int], list[bytes]]:
        assert TSHARK is not None
        fields = ["-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload"]
        out = subprocess.run(
            [TSHARK, "-r", str(self.path), *fields],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        flows: dict[tuple[int, int], list[bytes]] = defaultdict(list)
        for line in out.splitlines():
            src, dst, payload = line.split("\t")
            flows[(int(src), int(dst))].append(bytes.fromhex(payload.replace(":", "")))
        return flows


def _tone_share(packets: list[bytes], freq_hz: float) -> float:
    """Share of the energy within 25 Hz of `freq_hz` when the packets' payloads are read as
    PCMU: near 1 for the tone in clear, near 0 for ciphertext (white noise)."""
    codes = np.frombuffer(b"".join(p[12:RTP_PLAIN] for p in packets), dtype=np.uint8)
    pcm = ulaw_decode(codes).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(pcm.size))) ** 2
    freqs = np.fft.rfftfreq(pcm.size, 1 / 8000)
    return float(spectrum[np.abs(freqs - freq_hz) < 25].sum() / spectrum[1:].sum())


def _media_port(phone: PjsuaPeer, call: int) -> int:
    active = phone.wait_event("media_active", 5.0, call=call)
    assert active["codec"].upper() == "PCMU", active
    return int(active["local_rtp"].rsplit(":", 1)[1])


def _legs(
    flows: dict[tuple[int, int], list[bytes]], phone_port: int, minimum: int = 50
) -> tuple[list[bytes], ...]:
    """What the switch sent to the phone's port and what the phone sent from it (its RTP, or
    with port + 1 its RTCP)."""
    to_phone = [p for (_, dst), ps in flows.items() if dst == phone_port for p in ps]
    from_phone = [p for (src, _), ps in flows.items() if src == phone_port for p in ps]
    assert len(to_phone) >= minimum and len(from_phone) >= minimum, (len(to_phone), len(from_phone))
    return to_phone, from_phone


def _srtcp_index_flags(packets: list[bytes]) -> set[int]:
    """The E flag of each SRTCP packet's index (RFC 3711 §3.4: 1 = encrypted), before the tag."""
    return {p[-SRTP_TAG_80 - 4] >> 7 for p in packets}


def _assert_encrypted(packets: list[bytes], tone_hz: float) -> None:
    assert {len(p) for p in packets} == {RTP_PLAIN + SRTP_TAG_80}
    assert _tone_share(packets, tone_hz) < 0.05


def _assert_plain(packets: list[bytes], tone_hz: float) -> None:
    assert {len(p) for p in packets} == {RTP_PLAIN}
    assert _tone_share(packets, tone_hz) > 0.5


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[type[Capture]]:
    if TSHARK is None:
        pytest.skip("tshark is not installed (Debian tshark; `make setup` installs it)")
    yield Capture


def _call(
    tmp_path: Path,
    sw: Switch,
    alice: PjsuaPeer,
    bob: PjsuaPeer,
    uri: str,
    cap: Capture,
) -> tuple[int, int]:
    """Alice calls bob, each plays its tone and records what it hears; the media ports."""
    for phone in (alice, bob):
        phone.send("codecs", only=["PCMU/8000"])
        phone.wait_event("codecs", 5.0)
    alice_call = alice.call(uri)
    bob_call = bob.wait_incoming(5.0)["call"]
    alice.play_and_record(
        alice_call, write_tone(tmp_path / "440.wav", 440.0, 5.0), tmp_path / "a.wav", RECORD_S
    )
    bob.play_and_record(
        bob_call, write_tone(tmp_path / "1000.wav", 1000.0, 5.0), tmp_path / "b.wav", RECORD_S
    )
    bob.send("answer", call=bob_call)
    alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
    ports = _media_port(alice, alice_call), _media_port(bob, bob_call)
    alice.wait_event("recorded", RECORD_S + 5.0, call=alice_call)
    bob.wait_event("recorded", RECORD_S + 5.0, call=bob_call)
    alice.send("hangup", call=alice_call)
    bob.wait_bye(bob_call, 5.0)
    cap.stop()
    assert dominant_frequency(tmp_path / "a.wav") == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(tmp_path / "b.wav") == pytest.approx(440.0, abs=15.0)
    assert voiced_seconds(tmp_path / "a.wav") > 1.5 and voiced_seconds(tmp_path / "b.wav") > 1.5
    assert sw.closed_cdr()["disposition"] == DISPOSITION_ANSWERED
    return ports


def test_tls_srtp_call_between_two_pjsua2_phones_with_srtp_mandatory(
    tmp_path: Path, carrier_port: int, capture: type[Capture]
) -> None:
    sw = _switch(tmp_path, carrier_port, {"1001": "mandatory", "1002": "mandatory"})
    port = _tls_port(sw)
    alice, bob = PjsuaPeer("1001", tmp_path), PjsuaPeer("1002", tmp_path)
    try:
        alice.register(port, "1001", "demo-1001", transport="tls", srtp="mandatory")
        bob.register(port, "1002", "demo-1002", transport="tls", srtp="mandatory")
        cap = capture(tmp_path / "srtp.pcap", sw.ports.rtp)
        alice_port, bob_port = _call(
            tmp_path, sw, alice, bob, f"sip:1002@{LOCAL}:{port};transport=tls", cap
        )
    finally:
        alice.close()
        bob.close()
        sw.stop()
    flows = cap.flows()
    to_alice, from_alice = _legs(flows, alice_port)
    to_bob, from_bob = _legs(flows, bob_port)
    _assert_encrypted(from_alice, 440.0)
    _assert_encrypted(to_bob, 440.0)
    _assert_encrypted(from_bob, 1000.0)
    _assert_encrypted(to_alice, 1000.0)


def test_tls_srtp_phone_talks_to_a_plain_rtp_phone(
    tmp_path: Path, carrier_port: int, capture: type[Capture]
) -> None:
    sw = _switch(tmp_path, carrier_port, {"1001": "mandatory", "1002": "off"})
    alice, bob = PjsuaPeer("1001", tmp_path), PjsuaPeer("1002", tmp_path)
    try:
        alice.register(_tls_port(sw), "1001", "demo-1001", transport="tls", srtp="mandatory")
        bob.register(sw.sip_port, "1002", "demo-1002")  # plain UDP, plain RTP
        cap = capture(tmp_path / "mixed.pcap", sw.ports.rtp)
        uri = f"sip:1002@{LOCAL}:{_tls_port(sw)};transport=tls"
        alice_port, bob_port = _call(tmp_path, sw, alice, bob, uri, cap)
    finally:
        alice.close()
        bob.close()
        sw.stop()
    flows = cap.flows()
    to_alice, from_alice = _legs(flows, alice_port)
    to_bob, from_bob = _legs(flows, bob_port)
    # The same audio crosses the switch: ciphertext on alice's leg, the tone in clear on bob's.
    _assert_encrypted(from_alice, 440.0)
    _assert_plain(to_bob, 440.0)
    _assert_plain(from_bob, 1000.0)
    _assert_encrypted(to_alice, 1000.0)
    # SRTCP on alice's leg (RTCP port = RTP + 1): what bob gets is alice's report opened
    # (4-byte index and 10-byte tag gone), what alice gets is bob's report protected. pjsua2
    # sends its first report at a random time, so some may fall after the call.
    rtcp_to_alice, rtcp_from_alice = _legs(flows, alice_port + 1, minimum=0)
    rtcp_to_bob, rtcp_from_bob = _legs(flows, bob_port + 1, minimum=0)
    assert rtcp_to_alice or rtcp_from_alice, "no RTCP on the SRTP leg"
    assert _srtcp_index_flags(rtcp_from_alice + rtcp_to_alice) == {1}
    assert {len(p) for p in rtcp_to_bob} <= {len(p) - 14 for p in rtcp_from_alice}
    assert {len(p) - 14 for p in rtcp_to_alice} <= {len(p) for p in rtcp_from_bob}


def test_plain_offers_to_and_from_a_mandatory_party_get_488(
    tmp_path: Path, carrier_port: int
) -> None:
    sw = _switch(tmp_path, carrier_port, {"1001": "mandatory", "1003": "mandatory"})
    port = _tls_port(sw)
    plain_over_tls, srtp_phone, udp_only = (
        PjsuaPeer(name, tmp_path) for name in ("1001", "1002", "1003")
    )
    try:
        # 1001 must use SRTP: its plain offer, even over TLS, is refused.
        plain_over_tls.register(port, "1001", "demo-1001", transport="tls")
        call = plain_over_tls.call(f"sip:9196@{LOCAL}:{port};transport=tls")
        ended = plain_over_tls.wait_call_state(call, "DISCONNECTED", 5.0)
        assert ended["code"] == 488, ended
        # 1003 must use SRTP but is registered over UDP only: its keys would travel in clear.
        udp_only.register(sw.sip_port, "1003", "demo-1003")
        srtp_phone.register(port, "1002", "demo-1002", transport="tls", srtp="optional")
        call = srtp_phone.call(f"sip:1003@{LOCAL}:{port};transport=tls")
        ended = srtp_phone.wait_call_state(call, "DISCONNECTED", 5.0)
        assert ended["code"] == 488, ended
        assert not [e for e in udp_only.events if e["event"] == "incoming_call"]
    finally:
        for phone in (plain_over_tls, srtp_phone, udp_only):
            phone.close()
        sw.stop()


def _wav_tone_share(path: Path) -> float:
    """Share of a recording's voiced energy within 25 Hz of its peak: near 1 for a tone."""
    samples, rate = read_mono(path)
    body = voiced(samples, rate, 0.2)
    if body.size < rate // 10:
        return 0.0
    power = np.abs(np.fft.rfft(body * np.hanning(body.size))) ** 2
    freqs = np.fft.rfftfreq(body.size, 1.0 / rate)
    peak = freqs[int(np.argmax(power))]
    return float(power[np.abs(freqs - peak) <= 25.0].sum() / power.sum())


def _record(pairs: list[tuple[PjsuaPeer, int]], tmp_path: Path, name: str) -> list[Path]:
    paths = [tmp_path / f"{peer.name}-{name}.wav" for peer, _ in pairs]
    for (peer, call), path in zip(pairs, paths, strict=True):
        peer.send("record", call=call, path=str(path), seconds=2.0)
    for (peer, call), path in zip(pairs, paths, strict=True):
        peer.wait_event("recorded", 10.0, call=call, path=str(path))
    return paths


@pytest.mark.parametrize("hold", ["moh", "passthrough"])
def test_hold_and_resume_on_an_srtp_call(tmp_path: Path, carrier_port: int, hold: str) -> None:
    """moh: the hold re-INVITE is answered by the switch with its SRTP line and music on hold
    reaches the held phone through the engine (protected by send_frame). passthrough: the
    switch carries the re-INVITEs to the other phone with its own SDES line toward it. After
    resume the relay carries both tones again; every step is SRTP mandatory, or pjsua2 would
    refuse it."""
    sw = _switch(tmp_path, carrier_port, {"1001": "mandatory", "1002": "mandatory"}, hold=hold)
    port = _tls_port(sw)
    alice, bob = PjsuaPeer("1001", tmp_path), PjsuaPeer("1002", tmp_path)
    try:
        alice.register(port, "1001", "demo-1001", transport="tls", srtp="mandatory")
        bob.register(port, "1002", "demo-1002", transport="tls", srtp="mandatory")
        alice_call = alice.call(f"sip:1002@{LOCAL}:{port};transport=tls")
        bob_call = bob.wait_incoming(5.0)["call"]
        bob.send("answer", call=bob_call)
        alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
        for phone, call, hz in ((alice, alice_call, 440.0), (bob, bob_call, 1000.0)):
            phone.send("play", call=call, path=str(write_tone(tmp_path / f"{hz}.wav", hz, 9.0)))
        alice.send("hold", call=alice_call)
        alice.wait_event("media_state", 5.0, call=alice_call, status="local_hold")
        (bob_held,) = _record([(bob, bob_call)], tmp_path, "held")
        alice.send("unhold", call=alice_call)
        alice.wait_event("media_state", 5.0, call=alice_call, status="active")
        alice_heard, bob_heard = _record([(alice, alice_call), (bob, bob_call)], tmp_path, "back")
        alice.send("hangup", call=alice_call)
        bob.wait_bye(bob_call, 5.0)
    finally:
        alice.close()
        bob.close()
        sw.stop()
    bob_states = [e["status"] for e in bob.events if e.get("event") == "media_state"]
    if hold == "moh":
        assert voiced_seconds(bob_held, skip_s=0.2) > 1.5, "the held phone hears no music"
        assert _wav_tone_share(bob_held) < 0.5, "the held phone hears a tone, not music"
        assert set(bob_states) == {"active"}, bob_states
    else:
        assert bob_states == ["active", "remote_hold", "active"], bob_states
    assert dominant_frequency(alice_heard, skip_s=0.2) == pytest.approx(1000.0, abs=20.0)
    assert dominant_frequency(bob_heard, skip_s=0.2) == pytest.approx(440.0, abs=20.0)


def test_an_srtp_phone_and_a_plain_phone_in_a_conference_hear_each_other(
    tmp_path: Path, carrier_port: int
) -> None:
    """Room 8000 runs in the tick engine: the SRTP phone's packets are opened before its jitter
    buffer, and the mix is protected by send_frame toward it."""
    sw = _switch(tmp_path, carrier_port, {"1001": "mandatory"})
    port = _tls_port(sw)
    alice, bob = PjsuaPeer("1001", tmp_path), PjsuaPeer("1002", tmp_path)
    try:
        alice.register(port, "1001", "demo-1001", transport="tls", srtp="mandatory")
        bob.register(sw.sip_port, "1002", "demo-1002")
        calls = []
        for phone, uri, hz in (
            (alice, f"sip:8000@{LOCAL}:{port};transport=tls", 500.0),
            (bob, sw.uri("8000"), 750.0),
        ):
            call = phone.call(uri)
            phone.send("play", call=call, path=str(write_tone(tmp_path / f"{hz}.wav", hz, 20.0)))
            phone.wait_call_state(call, "CONFIRMED", 5.0)
            phone.wait_event("media_active", 5.0, call=call)
            calls.append(call)
        alice_heard, bob_heard = _record(
            [(alice, calls[0]), (bob, calls[1])], tmp_path, "conference"
        )
        for phone, call in ((alice, calls[0]), (bob, calls[1])):
            phone.send("hangup", call=call)
    finally:
        alice.close()
        bob.close()
        sw.stop()
    assert dominant_frequency(alice_heard, skip_s=0.3) == pytest.approx(750.0, abs=20.0)
    assert dominant_frequency(bob_heard, skip_s=0.3) == pytest.approx(500.0, abs=20.0)
