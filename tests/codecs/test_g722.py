"""G.722 through libg722: tones keep frequency and SNR, wideband survives, state is per stream."""

from __future__ import annotations

import numpy as np
import pytest
from spectrum import best_delay, frames, peaks_hz, rms, sine, snr_db

from softswitch_codecs import CodecUsageError, default_registry
from softswitch_codecs.g722 import G722Codec

FRAME_16K = 320
FRAME_8K = 160


def _through(codec: G722Codec, samples: np.ndarray, frame: int) -> tuple[np.ndarray, list[bytes]]:
    """Encode then decode `samples` frame by frame with one stream, as a call would."""
    stream = codec.new_stream()
    payloads, decoded = [], []
    for chunk in frames(samples, frame):
        payload = codec.encode_many([stream], chunk.reshape(1, -1))
        payloads.append(payload.tobytes())
        decoded.append(codec.decode_many([stream], payload)[0])
    return np.concatenate(decoded), payloads


# Measured with libg722 1.2.8: 62, 47, 41 and 27 dB.
@pytest.mark.parametrize(
    ("freq_hz", "min_snr_db"), [(300.0, 45.0), (1000.0, 40.0), (3000.0, 35.0), (6000.0, 22.0)]
)
def test_wideband_tone_keeps_frequency_and_snr(freq_hz: float, min_snr_db: float) -> None:
    codec = G722Codec(16000)
    tone = sine(freq_hz, 16000, 1.0)
    out, payloads = _through(codec, tone, FRAME_16K)
    assert all(len(p) == 160 for p in payloads)  # 20 ms of 64 kbit/s
    body = out[1600:]
    assert abs(peaks_hz(body, 16000)[0] - freq_hz) <= 5
    # 6 kHz is above what any 8 kHz codec can carry: only a real wideband path passes it.
    delay = best_delay(tone[1600:], body, 80)
    n = body.size - 80
    assert snr_db(tone[1600 : 1600 + n], body[delay : delay + n]) >= min_snr_db


def test_narrowband_mode_interworks_with_wideband_peers() -> None:
    """An 8 kHz engine codes G.722's lower sub-band only: a wideband decoder still hears it."""
    narrow, wide = G722Codec(8000), G722Codec(16000)
    assert narrow.payload_bytes(FRAME_8K) == wide.payload_bytes(FRAME_16K) == 160
    tone8 = sine(1000.0, 8000, 1.0)
    narrow_tx, wide_rx = narrow.new_stream(), wide.new_stream()
    heard = [
        wide.decode_many([wide_rx], narrow.encode_many([narrow_tx], chunk.reshape(1, -1)))[0]
        for chunk in frames(tone8, FRAME_8K)
    ]
    wideband = np.concatenate(heard)[1600:]
    assert abs(peaks_hz(wideband, 16000)[0] - 1000.0) <= 5
    assert rms(wideband) == pytest.approx(rms(tone8), rel=0.05)

    tone16 = sine(1000.0, 16000, 1.0)
    wide_tx, narrow_rx = wide.new_stream(), narrow.new_stream()
    heard = [
        narrow.decode_many([narrow_rx], wide.encode_many([wide_tx], chunk.reshape(1, -1)))[0]
        for chunk in frames(tone16, FRAME_16K)
    ]
    narrowband = np.concatenate(heard)[800:]
    assert abs(peaks_hz(narrowband, 8000)[0] - 1000.0) <= 5
    assert rms(narrowband) == pytest.approx(rms(tone16), rel=0.05)


def test_each_stream_keeps_its_own_state_in_a_batch() -> None:
    codec = G722Codec(16000)
    tones = np.stack([sine(440.0, 16000, 0.4), sine(2500.0, 16000, 0.4)])
    alone = [_through(codec, tones[i], FRAME_16K) for i in range(2)]
    streams = [codec.new_stream(), codec.new_stream()]
    batched_payloads, batched_pcm = [], []
    for start in range(0, tones.shape[1], FRAME_16K):
        payload = codec.encode_many(streams, tones[:, start : start + FRAME_16K])
        batched_payloads.append(payload)
        batched_pcm.append(codec.decode_many(streams, payload))
    for i in range(2):
        assert b"".join(p[i].tobytes() for p in batched_payloads) == b"".join(alone[i][1])
        np.testing.assert_array_equal(np.concatenate([p[i] for p in batched_pcm]), alone[i][0])


def test_state_matters_so_sharing_it_would_garble_a_leg() -> None:
    """Swap two legs' states halfway: the output differs from the legs' own, so state is real."""
    codec = G722Codec(16000)
    tone = sine(440.0, 16000, 0.2)
    own, _ = _through(codec, tone, FRAME_16K)
    other = codec.new_stream()
    codec.encode_many([other], sine(3000.0, 16000, 0.1).reshape(1, -1))
    mine = codec.new_stream()
    out = []
    for index, chunk in enumerate(frames(tone, FRAME_16K)):
        stream = other if index == 5 else mine
        out.append(
            codec.decode_many([stream], codec.encode_many([stream], chunk.reshape(1, -1)))[0]
        )
    assert not np.array_equal(np.concatenate(out), own)


def test_registry_picks_the_mode_for_the_engine_rate() -> None:
    registry = default_registry()
    assert registry.create("G722", 16000).info.pcm_rate_hz == 16000
    assert registry.create("g722", 8000).info.pcm_rate_hz == 8000
    info = registry.create("G722", 8000).info
    assert (info.rtp_clock_hz, info.static_payload_type) == (8000, 9)  # RFC 3551 §4.5.2


def test_misuse_is_a_usage_error() -> None:
    with pytest.raises(CodecUsageError):
        G722Codec(44100)
    codec = G722Codec(16000)
    with pytest.raises(CodecUsageError):
        codec.encode_many([codec.new_stream()], np.zeros((2, 320), np.int16))
    with pytest.raises(CodecUsageError):
        codec.encode_many([object()], np.zeros((1, 320), np.int16))
    with pytest.raises(CodecUsageError):
        codec.decode_many([codec.new_stream()], np.zeros((1, 160), np.int16))
