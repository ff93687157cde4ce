"""G.722 interop with an independent implementation: pjsua2 (pjmedia's G.722) on loopback.

The test answers pjsua2's call itself with an SDP that offers G.722 alone, then, 20 ms at a
time, sends RTP coded by our codec (a 6 kHz tone, which only a wideband path carries) and decodes
with our codec the RTP pjsua2 codes from a 5 kHz tone it plays. Each side must hear the other's
tone at its frequency.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from peers.pjsua import PjsuaPeer
from spectrum import frames, peaks_hz, rms, sine

from softswitch.media.rtp import RtpHeader, RtpPacket
from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.sdp import SessionDescription
from softswitch_codecs.g722 import G722Codec

pytestmark = pytest.mark.integration

LOCAL = "127.0.0.1"
DEADLINE_S = 10.0
SECONDS = 3.0
OUR_TONE_HZ = 6000.0
PEER_TONE_HZ = 5000.0
G722_PT = 9  # RFC 3551 static payload type


def _receive_request(sock: socket.socket, method: str) -> tuple[Request, tuple[str, int]]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            break
        message = parse_message(data)
        if isinstance(message, Request) and message.method == method:
            return message, addr
    raise AssertionError(f"no {method} from pjsua2 within {DEADLINE_S} s")


def _reply(
    request: Request, status: int, reason: str, extra: list[tuple[str, str]], body: bytes
) -> bytes:
    headers = [
        (name, value)
        for name, value in request.headers
        if name in ("Via", "From", "Call-ID", "CSeq")
    ]
    to = request.header("To") or ""
    headers.append(("To", to if ";tag=" in to else f"{to};tag=interop"))
    headers.extend(extra)
    headers.append(("Content-Length", str(len(body))))
    return Response(status, reason, headers, body).serialize()


def _answer_sdp(rtp_port: int) -> bytes:
    lines = [
        "v=0",
        f"o=- 1 1 IN IP4 {LOCAL}",
        "s=-",
        f"c=IN IP4 {LOCAL}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {G722_PT}",
        f"a=rtpmap:{G722_PT} G722/8000",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_pjsua2_and_our_g722_hear_each_others_wideband_tones(tmp_path: Path) -> None:
    peer_tone, heard = tmp_path / "peer-tone.wav", tmp_path / "peer-heard.wav"
    sf.write(
        str(peer_tone), sine(PEER_TONE_HZ, 16000, SECONDS + 3) / 32768, 16000, subtype="PCM_16"
    )
    codec = G722Codec(16000)
    tx_stream, rx_stream = codec.new_stream(), codec.new_stream()
    ours = [f.reshape(1, -1) for f in frames(sine(OUR_TONE_HZ, 16000, SECONDS + 1, 8000.0), 320)]
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp,
        PjsuaPeer("g722", tmp_path) as peer,
    ):
        sip.bind((LOCAL, 0))
        rtp.bind((LOCAL, 0))
        call = peer.call(f"sip:g722@{LOCAL}:{sip.getsockname()[1]}")
        invite, peer_sip = _receive_request(sip, "INVITE")
        offer = SessionDescription.parse(invite.body).audio
        assert offer is not None and offer.codec_named("G722") is not None, invite.body
        contact = [("Contact", f"<sip:g722@{LOCAL}:{sip.getsockname()[1]}>")]
        sdp = [("Content-Type", "application/sdp")]
        sip.sendto(
            _reply(invite, 200, "OK", contact + sdp, _answer_sdp(rtp.getsockname()[1])), peer_sip
        )
        peer.wait_event("media_active", DEADLINE_S, call=call)
        peer.play_and_record(call, peer_tone, heard, seconds=SECONDS - 0.5)

        received: dict[int, bytes] = {}
        rtp.setblocking(False)
        start = time.monotonic()
        for index, frame in enumerate(ours[: int(SECONDS * 50)]):
            # Paced like a phone, frame n at start + n·20 ms: pacing, not waiting for a condition.
            time.sleep(max(0.0, start + index * 0.02 - time.monotonic()))
            payload = codec.encode_many([tx_stream], frame).tobytes()
            header = RtpHeader(G722_PT, index, index * 160, 0x6722, marker=index == 0)
            rtp.sendto(RtpPacket(header, payload).serialize(), (offer.address, offer.port))
            while True:
                try:
                    packet = RtpPacket.parse(rtp.recv(2048))
                except BlockingIOError:
                    break
                if packet.header.payload_type == G722_PT:
                    received[packet.header.sequence] = packet.payload
        peer.wait_event("recorded", DEADLINE_S, call=call)
        peer.send("hangup", call=call)
        bye, _ = _receive_request(sip, "BYE")
        sip.sendto(_reply(bye, 200, "OK", [], b""), peer_sip)
        peer.wait_call_state(call, "DISCONNECTED", DEADLINE_S)

    assert len(received) >= SECONDS * 50 * 0.9
    payloads = [received[seq] for seq in sorted(received)]
    assert all(len(p) == 160 for p in payloads)  # 20 ms of G.722 at 64 kbit/s
    we_heard = np.concatenate(
        [
            codec.decode_many([rx_stream], np.frombuffer(p, np.uint8).reshape(1, -1))[0]
            for p in payloads
        ]
    )
    body = we_heard[8000:]  # past the first half second: player start, jitter buffer fill
    assert rms(body) > 1000, "pjsua2's tone did not reach us"
    assert abs(peaks_hz(body, 16000)[0] - PEER_TONE_HZ) <= 10

    recording, rate = sf.read(str(heard), dtype="float64")
    assert rate == 16000, "pjsua2 mixes at 16 kHz by default: a narrower rate could not tell"
    body = recording[rate // 2 :]
    assert np.sqrt(np.mean(body**2)) > 0.05, "our tone did not reach pjsua2"
    assert abs(peaks_hz(body, rate)[0] - OUR_TONE_HZ) <= 10
