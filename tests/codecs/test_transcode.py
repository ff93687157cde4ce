"""Legs whose codecs differ hear each other: PCMU phone ⇄ PCMA trunk, G.722 ⇄ G.711."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spectrum import frames, peaks_hz, rms, sine

from softswitch_codecs import (
    CodecUsageError,
    Transcoder,
    UnknownCodecError,
    alaw_decode,
    alaw_encode,
    default_registry,
    ulaw_decode,
    ulaw_encode,
)
from softswitch_codecs.g722 import G722Codec


def _payload_frames(codec_name: str, tone: np.ndarray, rate_hz: int) -> list[bytes]:
    """What a phone of that codec sends: its tone, coded frame by frame by its own encoder."""
    codec = default_registry().create(codec_name, rate_hz)
    stream = codec.new_stream()
    size = rate_hz // 50
    return [codec.encode_many([stream], f.reshape(1, -1)).tobytes() for f in frames(tone, size)]


def _heard(codec_name: str, payloads: list[bytes], rate_hz: int) -> np.ndarray:
    """What a phone of that codec plays: the payloads decoded by its own decoder."""
    codec = default_registry().create(codec_name, rate_hz)
    stream = codec.new_stream()
    raw = [np.frombuffer(p, np.uint8).reshape(1, -1) for p in payloads]
    return np.concatenate([codec.decode_many([stream], r)[0] for r in raw])


def test_pcmu_phone_and_pcma_trunk_hear_each_others_tone() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry(), engine_rate_hz=8000)
    transcoder.attach("phone", "PCMU")
    transcoder.attach("trunk", "PCMA")
    phone_tx = _payload_frames("PCMU", sine(440.0, 8000, 2.0), 8000)
    trunk_tx = _payload_frames("PCMA", sine(1200.0, 8000, 2.0), 8000)
    to_trunk, to_phone = [], []
    for from_phone, from_trunk in zip(phone_tx, trunk_tx, strict=True):
        # One tick: decode both legs at once, then encode each side's audio for the other.
        pcm = transcoder.decode(["phone", "trunk"], [from_phone, from_trunk])
        for_trunk, for_phone = transcoder.encode(["trunk", "phone"], pcm)
        to_trunk.append(for_trunk)
        to_phone.append(for_phone)
    trunk_hears = _heard("PCMA", to_trunk, 8000)
    phone_hears = _heard("PCMU", to_phone, 8000)
    assert abs(peaks_hz(trunk_hears, 8000)[0] - 440.0) <= 3
    assert abs(peaks_hz(phone_hears, 8000)[0] - 1200.0) <= 3
    assert rms(trunk_hears) == pytest.approx(rms(sine(440.0, 8000, 2.0)), rel=0.02)


def test_pcmu_to_pcma_is_what_decoding_and_recoding_gives() -> None:
    transcoder: Transcoder[int] = Transcoder(default_registry())
    transcoder.attach(1, "PCMU")
    transcoder.attach(2, "PCMA")
    every_ulaw = bytes(range(256))[:160]
    pcm = transcoder.decode([1], [every_ulaw])
    (alaw,) = transcoder.encode([2], pcm)
    linear = ulaw_decode(np.frombuffer(every_ulaw, np.uint8))
    assert alaw == alaw_encode(linear).tobytes()
    assert np.array_equal(
        alaw_decode(np.frombuffer(alaw, np.uint8)), alaw_decode(alaw_encode(linear))
    )


@pytest.mark.parametrize("engine_rate_hz", [8000, 16000])
def test_g722_phone_and_pcmu_phone_hear_each_other(engine_rate_hz: int) -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry(), engine_rate_hz=engine_rate_hz)
    transcoder.attach("wide", "G722")
    transcoder.attach("narrow", "PCMU")
    wide_tx = _payload_frames("G722", sine(1000.0, 16000, 2.0), 16000)
    narrow_tx = _payload_frames("PCMU", sine(600.0, 8000, 2.0), 8000)
    to_wide, to_narrow = [], []
    for from_wide, from_narrow in zip(wide_tx, narrow_tx, strict=True):
        pcm = transcoder.decode(["wide", "narrow"], [from_wide, from_narrow])
        assert pcm.shape == (2, engine_rate_hz // 50)
        for_narrow, for_wide = transcoder.encode(["narrow", "wide"], pcm)
        to_wide.append(for_wide)
        to_narrow.append(for_narrow)
    assert all(len(p) == 160 for p in to_wide + to_narrow)
    wide_hears = _heard("G722", to_wide, 16000)[3200:]
    narrow_hears = _heard("PCMU", to_narrow, 8000)[1600:]
    assert abs(peaks_hz(wide_hears, 16000)[0] - 600.0) <= 3
    assert abs(peaks_hz(narrow_hears, 8000)[0] - 1000.0) <= 3
    assert rms(wide_hears) == pytest.approx(rms(sine(600.0, 8000, 1.0)), rel=0.05)
    assert rms(narrow_hears) == pytest.approx(rms(sine(1000.0, 8000, 1.0)), rel=0.05)


def test_a_wideband_engine_carries_6khz_between_two_g722_legs() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry(), engine_rate_hz=16000)
    transcoder.attach("a", "G722")
    transcoder.attach("b", "G722")
    sent = _payload_frames("G722", sine(6000.0, 16000, 1.0), 16000)
    relayed = [transcoder.encode(["b"], transcoder.decode(["a"], [p]))[0] for p in sent]
    assert abs(peaks_hz(_heard("G722", relayed, 16000)[1600:], 16000)[0] - 6000.0) <= 5


def test_many_legs_of_one_codec_share_one_lookup_and_keep_their_rows() -> None:
    transcoder: Transcoder[int] = Transcoder(default_registry())
    names = ["PCMU", "PCMA", "G722"] * 4
    for leg, name in enumerate(names):
        transcoder.attach(leg, name)
    rng = np.random.default_rng(5)
    pcm = rng.integers(-8000, 8000, size=(len(names), 160), dtype=np.int16)
    payloads = transcoder.encode(list(range(len(names))), pcm)
    assert [len(p) for p in payloads] == [160] * len(names)
    for leg, name in enumerate(names):
        if name == "PCMU":
            assert payloads[leg] == ulaw_encode(pcm[leg]).tobytes()
        if name == "PCMA":
            assert payloads[leg] == alaw_encode(pcm[leg]).tobytes()
    # Reversed order: rows follow the legs asked for, not the attach order.
    legs = list(range(len(names)))[::-1]
    decoded = transcoder.decode(legs, [payloads[leg] for leg in legs])
    np.testing.assert_array_equal(decoded[-1], ulaw_decode(ulaw_encode(pcm[0])))


def test_missing_and_malformed_payloads_are_silence_and_counted() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry())
    transcoder.attach("a", "PCMU")
    transcoder.attach("b", "G722")
    pcm = transcoder.decode(["a", "b"], [None, b"\x00" * 7])
    assert not pcm.any()
    assert transcoder.malformed_frames("a") == 0
    assert transcoder.malformed_frames("b") == 1


def test_a_g722_leg_keeps_state_across_ticks_like_its_own_decoder() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry(), engine_rate_hz=16000)
    transcoder.attach("a", "G722")
    sent = _payload_frames("G722", sine(900.0, 16000, 0.5), 16000)
    through = np.concatenate([transcoder.decode(["a"], [p])[0] for p in sent])
    np.testing.assert_array_equal(through, _heard("G722", sent, 16000))


def test_detach_forgets_state_and_reattach_starts_fresh() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry(), engine_rate_hz=16000)
    transcoder.attach("a", "G722")
    sent = _payload_frames("G722", sine(900.0, 16000, 0.2), 16000)
    first = transcoder.decode(["a"], [sent[0]])
    transcoder.decode(["a"], [sent[1]])
    transcoder.detach("a")
    assert "a" not in transcoder
    with pytest.raises(CodecUsageError):
        transcoder.decode(["a"], [sent[0]])
    transcoder.attach("a", "G722")
    np.testing.assert_array_equal(transcoder.decode(["a"], [sent[0]]), first)


def test_errors_name_the_problem() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry())
    with pytest.raises(UnknownCodecError, match=r"opus.*G722, PCMA, PCMU"):
        transcoder.attach("a", "opus")
    transcoder.attach("a", "PCMU")
    with pytest.raises(CodecUsageError, match="twice"):
        transcoder.decode(["a", "a"], [None, None])
    with pytest.raises(CodecUsageError):
        transcoder.encode(["a"], np.zeros((1, 320), np.int16))
    with pytest.raises(CodecUsageError):
        Transcoder(default_registry(), engine_rate_hz=48000)
    assert transcoder.codec_of("a").name == "PCMU"
    assert G722Codec(8000).info.name == "G722"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["PCMU", "PCMA", "G722"]), st.none() | st.binary(max_size=400)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([8000, 16000]),
)
def test_whatever_the_network_sends_a_tick_decodes(
    legs: list[tuple[str, bytes | None]], engine_rate_hz: int
) -> None:
    transcoder: Transcoder[int] = Transcoder(default_registry(), engine_rate_hz=engine_rate_hz)
    for leg, (name, _) in enumerate(legs):
        transcoder.attach(leg, name)
    pcm = transcoder.decode(list(range(len(legs))), [payload for _, payload in legs])
    assert pcm.shape == (len(legs), engine_rate_hz // 50) and pcm.dtype == np.int16
    for leg, (_, payload) in enumerate(legs):
        if payload is not None and len(payload) != 160:
            assert transcoder.malformed_frames(leg) == 1
            assert not pcm[leg].any()


def test_the_batch_grouping_kept_between_ticks_follows_a_change_of_codec() -> None:
    """The grouping of a batch is reused while the legs stay the same; a re-attach or detach
    drops it, so a leg that moved from PCMU to PCMA is decoded as PCMA from that tick on."""
    cached: Transcoder[str] = Transcoder(default_registry())
    tone = sine(440, 8000, 0.02)
    (pcmu,) = _payload_frames("PCMU", tone, 8000)
    (pcma,) = _payload_frames("PCMA", tone, 8000)
    for leg in ("a", "b"):
        cached.attach(leg, "PCMU")
    batch = ["a", "b"]
    first = cached.decode(batch, [pcmu, pcmu])
    assert np.array_equal(cached.decode(batch, [pcmu, pcmu]), first)  # the kept grouping
    cached.attach("b", "PCMA")
    fresh: Transcoder[str] = Transcoder(default_registry())
    fresh.attach("a", "PCMU")
    fresh.attach("b", "PCMA")
    wanted = fresh.decode(batch, [pcmu, pcma])
    stale: Transcoder[str] = Transcoder(default_registry())
    for leg in batch:
        stale.attach(leg, "PCMU")
    assert not np.array_equal(stale.decode(batch, [pcmu, pcma]), wanted)  # PCMA read as PCMU
    assert np.array_equal(cached.decode(batch, [pcmu, pcma]), wanted)
    cached.detach("a")
    with pytest.raises(CodecUsageError):
        cached.decode(batch, [pcmu, pcma])  # a leg detached since: refused, not decoded stale


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["PCMU", "PCMA", "G722"]), min_size=1, max_size=12),
    st.integers(0, 2**32 - 1),
)
def test_the_engines_batched_decode_and_encode_match_the_per_payload_ones(
    codecs: list[str], seed: int
) -> None:
    """`decode_rows`/`encode_rows` (one uint8[legs, bytes] array, the batched tick) give what
    `decode`/`encode` give, tick after tick (G.722 keeps state), rows without a frame silent."""
    rng = np.random.default_rng(seed)
    simple: Transcoder[int] = Transcoder(default_registry())
    batched: Transcoder[int] = Transcoder(default_registry())
    legs = list(range(len(codecs)))
    for leg, name in zip(legs, codecs, strict=True):
        simple.attach(leg, name)
        batched.attach(leg, name)
    for _ in range(5):
        codes = rng.integers(0, 256, (len(legs), 160), dtype=np.uint8)
        present = rng.random(len(legs)) < 0.8
        payloads = [codes[i].tobytes() if present[i] else None for i in legs]
        heard = simple.decode(legs, payloads)
        assert np.array_equal(batched.decode_rows(legs, codes, present), heard)
        pcm = rng.integers(-32768, 32768, (len(legs), 160), dtype=np.int16)
        encoded = batched.encode_rows(legs, pcm)
        assert [row.tobytes() for row in encoded] == simple.encode(legs, pcm)


def test_a_batched_decode_of_frames_of_the_wrong_length_is_silence_counted() -> None:
    transcoder: Transcoder[str] = Transcoder(default_registry())
    transcoder.attach("a", "PCMU")
    codes = np.zeros((1, 80), dtype=np.uint8)
    heard = transcoder.decode_rows(["a"], codes, np.array([True]))
    assert not heard.any() and transcoder.malformed_frames("a") == 1
