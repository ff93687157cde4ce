"""G.711 is bit-exact: every 16-bit input against audioop, every G.711 input against sox."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis.extra import numpy as hnp

from softswitch_codecs import (
    CodecUsageError,
    alaw_decode,
    alaw_encode,
    default_registry,
    ulaw_decode,
    ulaw_encode,
)

with warnings.catch_warnings():
    # audioop is deprecated in 3.11–3.12 and gone in 3.13, where audioop-lts provides it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_INT16 = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
EVERY_CODE = np.arange(256, dtype=np.uint8)


def test_oracle_is_the_expected_audioop() -> None:
    expected = "audioop-lts" if sys.version_info >= (3, 13) else "the standard library"
    assert audioop.lin2ulaw(b"\x00\x00", 2) == b"\xff", expected


def test_ulaw_encode_all_65536_inputs_match_audioop() -> None:
    oracle = np.frombuffer(audioop.lin2ulaw(EVERY_INT16.tobytes(), 2), dtype=np.uint8)
    np.testing.assert_array_equal(ulaw_encode(EVERY_INT16), oracle)


def test_alaw_encode_all_65536_inputs_match_audioop() -> None:
    oracle = np.frombuffer(audioop.lin2alaw(EVERY_INT16.tobytes(), 2), dtype=np.uint8)
    np.testing.assert_array_equal(alaw_encode(EVERY_INT16), oracle)


def test_decode_all_256_codes_match_audioop() -> None:
    codes = EVERY_CODE.tobytes()
    np.testing.assert_array_equal(
        ulaw_decode(EVERY_CODE), np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    )
    np.testing.assert_array_equal(
        alaw_decode(EVERY_CODE), np.frombuffer(audioop.alaw2lin(codes, 2), dtype=np.int16)
    )


def test_known_codes_from_the_standard() -> None:
    # G.711: linear 0 is 0xFF in µ-law and 0xD5 in A-law; full scale positive is 0x80 / 0xAA.
    assert ulaw_encode(np.array([0, 32767, -32768], np.int16)).tolist() == [0xFF, 0x80, 0x00]
    assert alaw_encode(np.array([0, 32767, -32768], np.int16)).tolist() == [0xD5, 0xAA, 0x2A]
    assert ulaw_decode(np.array([0x80, 0x00], np.uint8)).tolist() == [32124, -32124]
    assert alaw_decode(np.array([0xAA, 0x2A], np.uint8)).tolist() == [32256, -32256]


def _sox() -> str:
    path = shutil.which("sox")
    if path is None:
        pytest.skip("sox is not installed (make setup installs it)")
    return path


def _wav_data(path: Path) -> np.ndarray:
    """The bytes of a WAV's data chunk: G.711 codes exactly as sox wrote them."""
    blob = path.read_bytes()
    at = blob.index(b"data")
    size = int.from_bytes(blob[at + 4 : at + 8], "little")
    return np.frombuffer(blob[at + 8 : at + 8 + size], dtype=np.uint8)


@pytest.mark.parametrize(
    ("encoding", "step", "encode"), [("u-law", 4, ulaw_encode), ("a-law", 8, alaw_encode)]
)
def test_encode_every_g711_input_matches_sox(
    tmp_path: Path, encoding: str, step: int, encode: Callable[[np.ndarray], np.ndarray]
) -> None:
    """G.711 codes 14-bit (µ) and 13-bit (A) samples: sox must agree on every one of them.

    sox rounds the bits below that precision where audioop truncates them, so the file holds
    every value G.711 itself defines (multiples of 4 or 8), where the two cannot differ.
    """
    sox = _sox()
    linear = EVERY_INT16[EVERY_INT16 % step == 0]
    source, coded = tmp_path / "linear.wav", tmp_path / "coded.wav"
    sf.write(str(source), linear, 8000, subtype="PCM_16")
    # -D: no dither, which sox would otherwise add when it lowers the precision.
    subprocess.run([sox, "-D", str(source), "-e", encoding, str(coded)], check=True, timeout=30)
    np.testing.assert_array_equal(encode(linear), _wav_data(coded))


@pytest.mark.parametrize(("encoding", "decode"), [("u-law", ulaw_decode), ("a-law", alaw_decode)])
def test_decode_all_256_codes_match_sox(
    tmp_path: Path, encoding: str, decode: Callable[[np.ndarray], np.ndarray]
) -> None:
    sox = _sox()
    codes, linear = tmp_path / "codes.raw", tmp_path / "linear.raw"
    codes.write_bytes(EVERY_CODE.tobytes())
    raw = ["-t", "raw", "-r", "8000", "-c", "1"]
    subprocess.run(
        [sox, *raw, "-e", encoding, "-b", "8", str(codes), *raw, "-e", "signed", "-b", "16",
         str(linear)],
        check=True,
        timeout=30,
    )  # fmt: skip
    np.testing.assert_array_equal(decode(EVERY_CODE), np.fromfile(linear, dtype="<i2"))


@given(hnp.arrays(np.int16, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40)))
def test_batches_keep_their_shape_and_round_trip_within_one_step(pcm: np.ndarray) -> None:
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        codes = encode(pcm)
        assert codes.shape == pcm.shape and codes.dtype == np.uint8
        # Decoding what was decoded and coded again is the identity: codes are fixed points.
        np.testing.assert_array_equal(encode(decode(codes)), codes)


def test_registry_codecs_batch_over_legs() -> None:
    registry = default_registry()
    pcm = EVERY_INT16.reshape(256, 256)
    for name, encode, decode in (
        ("PCMU", ulaw_encode, ulaw_decode),
        ("pcma", alaw_encode, alaw_decode),
    ):
        codec = registry.create(name, 8000)
        streams = [codec.new_stream() for _ in range(256)]
        codes = codec.encode_many(streams, pcm)
        np.testing.assert_array_equal(codes, encode(pcm))
        np.testing.assert_array_equal(codec.decode_many(streams, codes), decode(codes))
        assert codec.payload_bytes(160) == 160


@pytest.mark.parametrize("bad", [np.zeros(4, np.float32), np.zeros(4, np.int32)])
def test_wrong_dtype_is_a_usage_error(bad: np.ndarray) -> None:
    with pytest.raises(CodecUsageError):
        ulaw_encode(bad)
    with pytest.raises(CodecUsageError):
        alaw_decode(bad)
